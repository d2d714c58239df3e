/**
 * The one retry layer (logical tier, above the balancer): each attempt goes
 * down through the balancer again, so it picks again, and the endpoint that
 * just failed is recorded in the call's logical state (`call.logical`) for
 * the balancer to avoid while it has a choice.
 *
 * An attempt resolves at response headers. A retryable answer (502/503/504 by
 * default) is discard()ed — the application never sees it — and tried again;
 * otherwise the attempt is returned for the stack's caller to deliver().
 * A retry happens only when ALL of these hold, checked in this order:
 *
 * 1. the failure matches an enabled condition (connect failure, reset before
 *    a response, per-try timeout, a listed status) or the peer's mesh refused
 *    the request (load shedding: a 503 with `x-hyphae-rejected: shed`);
 * 2. attempts remain (policy.attempts counts the first);
 * 3. repeating is safe: nothing was sent (connect failure, refusal), or the
 *    method is idempotent, or the request has an Idempotency-Key, or the
 *    policy opts in;
 * 4. the body can be sent again (replay-body.ts); if not, an error becomes
 *    HYPHAE_ERR_BODY_NOT_REPLAYABLE and a response is delivered as it is;
 * 5. the backoff (full jitter, 25..250 ms by default) ends before the call's
 *    deadline, so every attempt fits inside it;
 * 6. the destination's retry budget allows one more retry (checked last, as
 *    it spends a token).
 * When one fails, the original answer or error is what the caller gets.
 */
import { errorVerdict } from '../../core/classifier.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { ErrorCode, MeshError } from '../../core/errors.js';
import type { Filter } from '../../core/filter.js';
import type { RetryBudget } from '../../resilience/retry-budget.js';
import { isIdempotentMethod, type RetryCondition, type RetryPolicy } from '../../resilience/retry-policy.js';
import type { Attempt } from '../endpoint/attempt.js';
import type { MeshCall } from '../call/mesh-call.js';
import { getHeader } from '../call/headers.js';
import { prepareReplayableBody } from './replay-body.js';

export interface RetryFilterOptions {
  /** The call's policy (its route's, else its destination's); undefined or 1 attempt: no retry. */
  policy: (call: MeshCall) => RetryPolicy | undefined;
  /** The destination's retry budget, or where to find the one in force for a call; none: unbounded (tests). */
  budget?: RetryBudget | ((call: MeshCall) => RetryBudget | undefined);
  clock?: Clock;
  /** For backoff jitter (tests pin it). */
  random?: () => number;
  /** Told about each retry and each retry given up (for metrics and logs). */
  onRetry?: (event: RetryEvent) => void;
}

export interface RetryEvent {
  call: MeshCall;
  /** What failed. */
  condition: RetryCondition | 'refused';
  /** 'retry', or why not. */
  decision: 'retry' | 'attempts-exhausted' | 'not-idempotent' | 'body-not-replayable' | 'deadline' | 'budget-exhausted';
  delayMs: number;
}

export function retry(options: RetryFilterOptions): Filter<MeshCall, Attempt> {
  const { random } = options;
  const listener = options.onRetry;
  // A listener is told, never obeyed: its throw must not turn a response into a failure, nor leave an
  // attempt that reached its headers neither delivered nor discarded (its endpoint counted in flight for
  // ever). The mesh's sink guards its own subscribers (core/events.ts EventSink).
  const onRetry =
    listener &&
    ((e: RetryEvent): void => {
      try {
        listener(e);
      } catch {
        // ignored, see above
      }
    });
  const clock = options.clock ?? systemClock;
  const policyOf = options.policy;
  const budgetSource = options.budget;
  const budgetOf = typeof budgetSource === 'function' ? budgetSource : () => budgetSource;

  return (next) => {
    // The retry loop. `settled`: the first attempt already ran (see below) and this is its outcome.
    const run = async (call: MeshCall, policy: RetryPolicy, budget: RetryBudget | undefined, replayable: boolean, settled: boolean, firstAttempt?: Attempt, firstError?: unknown): Promise<Attempt> => {
      let idempotent: boolean | undefined;
      for (;;) {
        let attempt: Attempt | undefined;
        let error: unknown;
        if (settled) {
          settled = false;
          attempt = firstAttempt;
          error = firstError;
        } else {
          try {
            attempt = await next(call);
          } catch (err) {
            error = err;
          }
        }
        // Aborted (the application, the call's deadline, the inbound request): never retry.
        if (call.abortReason !== undefined) {
          if (attempt !== undefined) return attempt;
          throw error;
        }
        let condition: RetryCondition | 'refused' | undefined;
        if (attempt !== undefined) {
          condition = responseCondition(attempt, policy);
          if (condition === undefined) return attempt;
        } else {
          condition = policy.condition(errorVerdict(error));
          if (condition === undefined) throw error;
        }

        let delayMs: number;
        try {
          const giveUp = (decision: Exclude<RetryEvent['decision'], 'retry'>): Attempt => {
            onRetry?.({ call, condition: condition!, decision, delayMs: 0 });
            if (attempt !== undefined) return attempt;
            if (decision === 'body-not-replayable') throw notReplayable(call, error);
            throw error;
          };
          if (call.logical.attempt + 1 >= policy.attempts) return giveUp('attempts-exhausted');
          idempotent ??= isIdempotentMethod(call.opts.method) || getHeader(call.opts.headers, 'idempotency-key') !== undefined;
          if (!policy.isSafe(condition, idempotent)) return giveUp('not-idempotent');
          if (!replayable) return giveUp('body-not-replayable');
          delayMs = policy.backoffMs(call.logical.attempt, random);
          if (clock.now() + delayMs >= call.logical.deadline) return giveUp('deadline');
          if (budget !== undefined && !budget.tryWithdraw()) return giveUp('budget-exhausted');

          const failed = attempt?.endpoint ?? call.endpoint;
          if (failed !== undefined) call.logical.markFailed(failed);
          // A reset before any response is most often the keep-alive race: the pool's other idle connections
          // may be as stale as that one, so the retry takes a connection of its own.
          if (condition === 'reset') call.logical.freshConnection = true;
          attempt?.discard();
          onRetry?.({ call, condition, decision: 'retry', delayMs });
        } catch (err) {
          // Nothing here should throw; if it does, the response held by this layer is still released.
          attempt?.discard();
          throw err;
        }
        if (delayMs > 0) await pause(call, delayMs, clock);
        call.logical.attempt++;
      }
    };

    return (call) => {
      const policy = policyOf(call);
      // No retry possible: no extra promise, no body buffering.
      if (policy === undefined || policy.attempts <= 1) return next(call);
      const budget = budgetOf(call);
      budget?.deposit();
      const prepared = prepareReplayableBody(call, policy.maxReplayBytes);
      if (typeof prepared !== 'boolean') {
        return prepared.then(
          (replayable) => run(call, policy, budget, replayable, false),
          // Stopped while reading the body (deadline, cancellation): the caller gets the reason, not the stream's error.
          (err: unknown) => {
            throw call.abortReason ?? err;
          },
        );
      }
      // The first attempt without an async frame: a final answer (the usual case) costs one then(), and
      // only an answer or error that may need a retry enters the loop.
      return next(call).then(
        (attempt) => (call.abortReason !== undefined || responseCondition(attempt, policy) === undefined ? attempt : run(call, policy, budget, prepared, true, attempt)),
        (err: unknown) => run(call, policy, budget, prepared, true, undefined, err),
      );
    };
  };
}

/** Why a response may be retried (its verdict's condition, if the policy retries it), or undefined when it is final. */
function responseCondition(attempt: Attempt, policy: RetryPolicy): RetryCondition | 'refused' | undefined {
  return policy.condition(attempt.verdict);
}

function notReplayable(call: MeshCall, cause: unknown): MeshError {
  const why = cause instanceof Error ? cause.message : String(cause);
  const service = call.logical.goesTo(call.destination).name;
  return new MeshError(ErrorCode.BODY_NOT_REPLAYABLE, `call to ${service} failed (${why}) and needed a retry, but its request body is a stream that cannot be sent again`, {
    cause,
    details: { service, endpoint: call.endpoint?.id, attempt: call.logical.attempt },
  });
}

/** Wait between attempts on the clock; the call's abort (deadline, application) ends the wait. */
function pause(call: MeshCall, ms: number, clock: Clock): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      call.setOnAbort(undefined);
      resolve();
    }, ms);
    call.setOnAbort((err) => {
      timer.clear();
      call.setOnAbort(undefined);
      reject(err);
    });
  });
}
