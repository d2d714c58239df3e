/**
 * Retry budget (Finagle's RetryBudget, Linkerd's retry budget): over a sliding
 * window, retries may add at most `percent` % of the requests plus
 * `minPerSecond` per second of window. In a total outage of a destination,
 * attempts / requests therefore stays near 1 + percent/100 instead of
 * multiplying the load by the attempt count (a retry storm).
 *
 * The window is a ring of 10 buckets (a second each for a 10 s window),
 * advanced lazily from the clock on each call: no timer,
 * O(1) per request. Original requests deposit; retries withdraw; a refused
 * retry is counted (`exhausted`) and announced to listeners.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { Listeners, type Disposer } from '../core/events.js';

export interface RetryBudgetOptions {
  /** Retries may add at most this share (percent) of requests... */
  percent: number;
  /** ...plus this many per second of window (a floor for low traffic)... */
  minPerSecond: number;
  /** ...over this window. */
  windowMs: number;
}

/**
 * Ring resolution: the window slides by a tenth of itself. Not a setting: finer
 * costs memory per destination and work per advance, coarser keeps counting a
 * burst for up to a bucket after it left the window.
 */
const BUCKETS = 10;

export interface RetryBudgetStats {
  /** Original requests in the window. */
  requests: number;
  /** Retries in the window. */
  retries: number;
  /** Retries the window allows now (including those already made). */
  allowed: number;
  /** Retries refused because the budget was spent, since creation. */
  exhausted: number;
}

export class RetryBudget {
  readonly percent: number;
  readonly minPerSecond: number;
  readonly windowMs: number;
  #clock: Clock;
  #bucketMs: number;
  #requests: Float64Array;
  #retries: Float64Array;
  #cursor = 0;
  /** Index (time / bucketMs) of the bucket under the cursor. */
  #epoch: number;
  #sumRequests = 0;
  #sumRetries = 0;
  #reserve: number;
  #exhausted = 0;
  #onExhausted = new Listeners<RetryBudgetStats>();

  /** `options` are complete: their defaults are the Service schema's (config/resources/resilience.ts), applied by the caller. */
  constructor(o: Readonly<RetryBudgetOptions>, clock: Clock = systemClock) {
    if (!(o.windowMs > 0)) throw new RangeError('windowMs must be > 0');
    const n = BUCKETS;
    this.percent = o.percent;
    this.minPerSecond = o.minPerSecond;
    this.windowMs = o.windowMs;
    this.#clock = clock;
    this.#bucketMs = o.windowMs / n;
    this.#requests = new Float64Array(n);
    this.#retries = new Float64Array(n);
    this.#epoch = Math.floor(clock.now() / this.#bucketMs);
    this.#reserve = (o.minPerSecond * o.windowMs) / 1000;
  }

  /** One original request (not a retry). */
  deposit(): void {
    this.#advance();
    this.#requests[this.#cursor]! += 1;
    this.#sumRequests += 1;
  }

  /** Ask for one retry: true (and counted) when the budget allows it, false (counted as exhausted) otherwise. */
  tryWithdraw(): boolean {
    this.#advance();
    if (this.#sumRetries + 1 > this.#allowed()) {
      this.#exhausted++;
      if (this.#onExhausted.size > 0) this.#onExhausted.emit(this.stats());
      return false;
    }
    this.#retries[this.#cursor]! += 1;
    this.#sumRetries += 1;
    return true;
  }

  /** Told each time a retry is refused, with the window's figures. */
  onExhausted(listener: (stats: RetryBudgetStats) => void): Disposer {
    return this.#onExhausted.on(listener);
  }

  stats(): RetryBudgetStats {
    this.#advance();
    return { requests: this.#sumRequests, retries: this.#sumRetries, allowed: Math.floor(this.#allowed()), exhausted: this.#exhausted };
  }

  #allowed(): number {
    return (this.#sumRequests * this.percent) / 100 + this.#reserve;
  }

  /** Move the cursor to the current bucket, emptying the buckets that left the window. */
  #advance(): void {
    const epoch = Math.floor(this.#clock.now() / this.#bucketMs);
    let steps = epoch - this.#epoch;
    if (steps <= 0) return;
    const n = this.#requests.length;
    if (steps >= n) {
      this.#requests.fill(0);
      this.#retries.fill(0);
      this.#sumRequests = 0;
      this.#sumRetries = 0;
      this.#cursor = 0;
      this.#epoch = epoch;
      return;
    }
    while (steps-- > 0) {
      this.#cursor = (this.#cursor + 1) % n;
      this.#sumRequests -= this.#requests[this.#cursor]!;
      this.#sumRetries -= this.#retries[this.#cursor]!;
      this.#requests[this.#cursor] = 0;
      this.#retries[this.#cursor] = 0;
    }
    this.#epoch = epoch;
  }
}
