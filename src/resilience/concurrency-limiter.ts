/**
 * A concurrency limit with a bounded queue (Envoy's max_requests /
 * max_pending_requests): at most `maxConcurrent` holders at once, at most
 * `maxPending` waiting for a slot, and anything beyond fails fast instead of
 * queueing without bound. Memory stays flat however long a backend hangs.
 *
 * Waiters are served first come, first served. A waiter that gives up (its
 * deadline, an abort) is removed in O(1). The fast path (a free slot) is a
 * compare and an increment: no promise, no allocation.
 */

export interface ConcurrencyLimitOptions {
  maxConcurrent: number;
  maxPending: number;
}

export interface LimiterWaiter {
  /** The slot is yours (release() it when done). */
  grant(): void;
}

export class ConcurrencyLimiter {
  readonly maxConcurrent: number;
  readonly maxPending: number;
  #inflight = 0;
  // A Set keeps insertion order: the first value is the oldest waiter; delete is O(1).
  #queue = new Set<LimiterWaiter>();
  /** Requests refused because both the slots and the queue were full, since creation. */
  rejected = 0;
  /** release(), bound once: handed to each call as its "done" hook without a closure per call. */
  readonly releaser = (): void => this.release();

  /** `options` are complete: their defaults are the Service schema's (config/resources/resilience.ts), applied by the caller. */
  constructor(o: Readonly<ConcurrencyLimitOptions>) {
    if (!Number.isInteger(o.maxConcurrent) || o.maxConcurrent < 1) throw new RangeError('maxConcurrent must be an integer >= 1');
    if (!Number.isInteger(o.maxPending) || o.maxPending < 0) throw new RangeError('maxPending must be an integer >= 0');
    this.maxConcurrent = o.maxConcurrent;
    this.maxPending = o.maxPending;
  }

  get inflight(): number {
    return this.#inflight;
  }

  get pending(): number {
    return this.#queue.size;
  }

  /** Take a slot if one is free (and nobody waits ahead). */
  tryAcquire(): boolean {
    if (this.#inflight >= this.maxConcurrent || this.#queue.size > 0) return false;
    this.#inflight++;
    return true;
  }

  /** Wait for a slot; false (counted as rejected) when the queue is full too. */
  enqueue(waiter: LimiterWaiter): boolean {
    if (this.#queue.size >= this.maxPending) {
      this.rejected++;
      return false;
    }
    this.#queue.add(waiter);
    return true;
  }

  /** The waiter gives up; true if it was still waiting. */
  cancel(waiter: LimiterWaiter): boolean {
    return this.#queue.delete(waiter);
  }

  /** Give a slot back: it goes to the oldest waiter, if any. */
  release(): void {
    // Nobody waits (the usual case): no iterator.
    if (this.#queue.size === 0) {
      if (this.#inflight > 0) this.#inflight--;
      return;
    }
    const next = this.#queue.values().next();
    if (!next.done) {
      this.#queue.delete(next.value);
      // The slot passes straight on: inflight does not change.
      next.value.grant();
      return;
    }
    if (this.#inflight > 0) this.#inflight--;
  }
}
