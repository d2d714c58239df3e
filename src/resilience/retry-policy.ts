/**
 * Retry decisions as data: which failures may be tried again, for which
 * requests, and how long to wait in between. A policy is compiled once per
 * configuration change (status codes into a Set, conditions into flags); the
 * per-request questions are a few property reads.
 *
 * What failed is the attempt's verdict (src/core/classifier.ts), made once in
 * the client's endpoint tier: the policy only says whether the condition the
 * verdict names is one it retries, so retry, outlier detection and metrics
 * agree.
 *
 * Backoff is core's fullJitter (AWS "full jitter": uniform in [0, min(cap,
 * base * 2^n))), not cockatiel's ExponentialBackoff: the formula is the same,
 * but ours is a pure function of the retry number with an injectable random
 * source (deterministic tests, no allocation), while cockatiel's builds an
 * immutable IBackoff chain per call and reads Math.random directly.
 */
import { errorVerdict, type RetryCondition, type Verdict } from '../core/classifier.js';
import { fullJitter } from '../core/backoff.js';

export type { RetryCondition } from '../core/classifier.js';

export interface RetryPolicyOptions {
  /** Total tries, the first included (2 = one retry). */
  attempts: number;
  on: readonly RetryCondition[];
  statusCodes: readonly number[];
  /** 4xx codes in statusCodes count only when this is set. */
  retriable4xx: boolean;
  /** Retry requests whose method is not idempotent (without an Idempotency-Key) too. */
  retryNonIdempotent: boolean;
  backoff: { baseMs: number; maxMs: number };
  /** Largest request body kept for replay. */
  maxReplayBytes: number;
}

/** RFC 9110 §9.2.2: methods whose repetition has the same effect as one request. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT.has(method) || IDEMPOTENT.has(method.toUpperCase());
}

export class RetryPolicy {
  readonly attempts: number;
  readonly retryNonIdempotent: boolean;
  readonly maxReplayBytes: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly onConnect: boolean;
  readonly onReset: boolean;
  readonly onStatus: boolean;
  readonly onTryTimeout: boolean;
  #status: ReadonlySet<number>;

  /** Complete options: the defaults live in the schema (src/config/resources), converted by client/logical/policy.ts. */
  constructor(o: RetryPolicyOptions) {
    if (!Number.isInteger(o.attempts) || o.attempts < 1) throw new RangeError(`attempts must be an integer >= 1, got ${o.attempts}`);
    this.attempts = o.attempts;
    this.retryNonIdempotent = o.retryNonIdempotent;
    this.maxReplayBytes = o.maxReplayBytes;
    this.baseMs = o.backoff.baseMs;
    this.maxMs = Math.max(o.backoff.baseMs, o.backoff.maxMs);
    this.onConnect = o.on.includes('connect-failure');
    this.onReset = o.on.includes('reset');
    this.onStatus = o.on.includes('retriable-status');
    this.onTryTimeout = o.on.includes('per-try-timeout');
    this.#status = new Set(o.statusCodes.filter((c) => c >= 500 || (o.retriable4xx && c >= 400)));
  }

  /** Whether a response with this status may be retried (the request's idempotency aside). */
  retriesStatus(status: number): boolean {
    return this.onStatus && this.#status.has(status);
  }

  /**
   * The condition of an attempt's verdict when this policy retries it;
   * undefined for what it never retries. A peer mesh's refusal is retried
   * where a connect failure or its status would be (nothing was processed).
   */
  condition(v: Verdict): RetryCondition | 'refused' | undefined {
    switch (v.condition) {
      case undefined:
        return undefined;
      case 'retriable-status':
        return this.retriesStatus(v.status) ? 'retriable-status' : undefined;
      case 'refused':
        return this.onConnect || this.retriesStatus(v.status) ? 'refused' : undefined;
      case 'connect-failure':
        return this.onConnect ? 'connect-failure' : undefined;
      case 'reset':
        return this.onReset ? 'reset' : undefined;
      case 'per-try-timeout':
        return this.onTryTimeout ? 'per-try-timeout' : undefined;
    }
  }

  /**
   * The retry condition an error matches, when that condition is enabled;
   * undefined for errors never retried (rejected before sending, deadline, abort, bugs).
   */
  conditionOf(err: unknown): RetryCondition | 'refused' | undefined {
    return this.condition(errorVerdict(err));
  }

  /**
   * Whether repeating the request is safe. A connect failure never sent it, and
   * a response the peer's mesh layer refused (load shedding) never reached the
   * application; anything else may have been processed, so the request must be
   * idempotent by method, carry an Idempotency-Key, or the policy must opt in.
   */
  isSafe(condition: RetryCondition | 'refused', idempotent: boolean): boolean {
    return condition === 'connect-failure' || condition === 'refused' || idempotent || this.retryNonIdempotent;
  }

  /** The wait before retry number `retry` (0 for the first retry). */
  backoffMs(retry: number, random?: () => number): number {
    return fullJitter(retry, random ? { baseMs: this.baseMs, maxMs: this.maxMs, random } : { baseMs: this.baseMs, maxMs: this.maxMs });
  }
}
