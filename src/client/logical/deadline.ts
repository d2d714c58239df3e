/**
 * Deadlines and timeouts on the client, with ONE timer per call.
 *
 * `deadline()` (logical tier, outermost after telemetry) fixes the call's
 * absolute deadline: the earliest of now + the route's request timeout and
 * the deadline of the inbound request being served (AsyncLocalStorage, set by
 * the server's deadline intake). It arms the call's one timer (CallDeadline),
 * fails fast when nothing is left, and ties the call to the inbound request,
 * so that a caller who goes away or runs out of time stops this call too.
 *
 * `perTryTimeout()` (below retry, once per attempt) bounds the attempt by the
 * per-try timeout on the same timer, and writes the budget this attempt has
 * (`x-hyphae-deadline-ms`) on the request, so the next hop knows it.
 *
 * A fired call deadline aborts the call (HYPHAE_ERR_DEADLINE_EXCEEDED: no
 * retry, the body too if it is streaming); a fired per-try timeout aborts only
 * the attempt (HYPHAE_ERR_TRY_TIMEOUT, retryable), and the retry layer may try
 * again within what is left.
 */
import { systemClock, type Clock } from '../../core/clock.js';
import { ErrorCode, MeshError } from '../../core/errors.js';
import type { Filter } from '../../core/filter.js';
import { CallDeadline, DEADLINE_HEADER, formatDeadlineHeader } from '../../resilience/deadline.js';
import { currentRequestContext, type RequestContext } from '../../resilience/request-context.js';
import type { Attempt } from '../endpoint/attempt.js';
import type { MeshCall } from '../call/mesh-call.js';
import { withHeader } from '../call/headers.js';
import { withOptions } from '../call/options-copy.js';
import type { CallTimeouts } from './policy.js';

export type { CallTimeouts } from './policy.js';

export interface DeadlineFilterOptions {
  /** The call's timeouts (its route's, else its destination's); undefined: none. */
  timeouts?: (call: MeshCall) => CallTimeouts | undefined;
  /** Follow the deadline and cancellation of the inbound request being served (default true). */
  propagate?: boolean;
  clock?: Clock;
}

export function deadline(options: DeadlineFilterOptions = {}): Filter<MeshCall, Attempt> {
  const clock = options.clock ?? systemClock;
  const timeoutsOf = options.timeouts;
  const propagate = options.propagate !== false;
  return (next) => (call) => {
    const t = timeoutsOf?.(call);
    const requestMs = t?.requestMs ?? 0;
    const perTryMs = t?.perTryMs ?? 0;
    const ctx = propagate ? currentRequestContext() : undefined;
    // Fast path: nothing bounds this call.
    if (ctx === undefined && requestMs <= 0 && perTryMs <= 0) return next(call);
    if (ctx !== undefined) {
      const reason = ctx.reason;
      if (reason !== undefined) return Promise.reject(fromInbound(call, reason));
    }
    const now = clock.now();
    let at = requestMs > 0 ? now + requestMs : Infinity;
    if (ctx !== undefined && ctx.deadline < at) at = ctx.deadline;
    if (at <= now) {
      return Promise.reject(
        new MeshError(ErrorCode.DEADLINE_EXCEEDED, `call to ${serviceOf(call)}: no time left before sending`, {
          rejected: true,
          details: { service: serviceOf(call), inbound: ctx !== undefined && ctx.deadline === at },
        }),
      );
    }
    if (at !== Infinity || perTryMs > 0) {
      call.logical.deadline = at;
      // The call clears its timer when it ends (complete or fail).
      call.timer = new CallDeadline(clock, at, perTryMs, call, now);
    }
    if (ctx !== undefined) track(ctx, call);
    return next(call);
  };
}

function track(ctx: RequestContext, call: MeshCall): void {
  ctx.track(call);
  call.onDone(() => ctx.untrack(call));
}

/** The inbound request was cancelled before this call started: say so with the matching code. */
function fromInbound(call: MeshCall, reason: Error): MeshError {
  if (reason instanceof MeshError && reason.code === ErrorCode.DEADLINE_EXCEEDED) {
    return new MeshError(ErrorCode.DEADLINE_EXCEEDED, `call to ${serviceOf(call)}: the inbound request's deadline has passed`, {
      rejected: true,
      cause: reason,
      details: { service: serviceOf(call), inbound: true },
    });
  }
  return new MeshError(ErrorCode.CANCELLED, `call to ${serviceOf(call)}: the inbound request was cancelled by its caller`, {
    rejected: true,
    cause: reason,
    details: { service: serviceOf(call) },
  });
}

/**
 * Per attempt: bound it by the per-try timeout (on the call's one timer) and
 * tell the next hop how long this attempt may take. A call without a timer
 * (no deadline, no per-try timeout) passes through untouched.
 */
export function perTryTimeout(): Filter<MeshCall, Attempt> {
  return (next) => (call) => {
    const timer = call.timer;
    if (timer === undefined) return next(call);
    const budget = timer.startTry();
    if (budget !== Infinity) {
      if (budget <= 0) {
        timer.endTry();
        return Promise.reject(
          new MeshError(ErrorCode.DEADLINE_EXCEEDED, `call to ${serviceOf(call)}: no time left for attempt ${call.logical.attempt + 1}`, {
            rejected: true,
            details: { service: serviceOf(call), attempt: call.logical.attempt },
          }),
        );
      }
      // On a copy of the options (MeshCall convention): the caller's object is never edited.
      call.opts = withOptions(call.opts, { headers: withHeader(call.opts.headers, DEADLINE_HEADER, formatDeadlineHeader(budget)) });
    }
    // Without a per-try timeout the try has nothing of its own to end: no extra promise.
    if (timer.perTryMs === 0) return next(call);
    return next(call).then(
      (attempt) => {
        timer.endTry();
        return attempt;
      },
      (err: unknown) => {
        timer.endTry();
        throw err;
      },
    );
  };
}

/** Where the call goes (the backend its rule chose, else the destination called), for messages. */
function serviceOf(call: MeshCall): string {
  return call.logical.goesTo(call.destination).name;
}
