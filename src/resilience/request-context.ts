/**
 * The context of the inbound request a process is serving, carried by
 * AsyncLocalStorage: its deadline (from the caller's budget), a cancellation
 * that fires when the deadline passes or the caller goes away, and the mesh
 * calls made on its behalf, so that they stop when it stops.
 *
 * The server's deadline intake creates it; the client's deadline filter reads
 * it, so every mesh call made while handling a request gets at most the time
 * the request has left. Nothing here knows about HTTP.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { systemClock, type Clock, type Timer } from '../core/clock.js';
import { ErrorCode, MeshError } from '../core/errors.js';

/** Anything that can be stopped with a reason (a mesh call). */
export interface Cancellable {
  abort(reason: Error): void;
}

export function deadlineExceeded(what: string, details?: Record<string, unknown>): MeshError {
  return new MeshError(ErrorCode.DEADLINE_EXCEEDED, `${what}: deadline exceeded`, { retryable: false, details });
}

export class RequestContext {
  /** Absolute deadline on the clock (ms), Infinity when the request has none. */
  readonly deadline: number;
  #clock: Clock;
  #controller: AbortController | undefined;
  #timer: Timer | undefined;
  #calls: Set<Cancellable> | undefined;
  #reason: Error | undefined;
  #ended = false;

  constructor(deadline: number, clock: Clock = systemClock) {
    this.deadline = deadline;
    this.#clock = clock;
  }

  /** Milliseconds left (negative once passed); Infinity without a deadline. */
  remaining(): number {
    return this.deadline === Infinity ? Infinity : this.deadline - this.#clock.now();
  }

  /** Why the request was cancelled (deadline passed, caller gone), once it was. */
  get reason(): Error | undefined {
    if (this.#reason === undefined && this.deadline !== Infinity && !this.#ended && this.remaining() <= 0) {
      this.cancel(deadlineExceeded('the request being served'));
    }
    return this.#reason;
  }

  /**
   * Aborts at the deadline or when the caller goes away. Created on first use,
   * so a handler that never asks costs neither a controller nor a timer.
   */
  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const c = (this.#controller = new AbortController());
    const reason = this.reason;
    if (reason) c.abort(reason);
    else if (this.deadline !== Infinity && !this.#ended) {
      this.#timer = this.#clock.setTimeout(() => this.cancel(deadlineExceeded('the request being served')), Math.max(0, this.remaining()));
    }
    return c.signal;
  }

  /** Follow a mesh call made for this request: it is aborted if the request is cancelled. */
  track(call: Cancellable): void {
    if (this.#ended) return;
    (this.#calls ??= new Set()).add(call);
  }

  untrack(call: Cancellable): void {
    this.#calls?.delete(call);
  }

  /** The request is cancelled (deadline, caller gone): abort the signal and every tracked call. */
  cancel(reason: Error): void {
    if (this.#reason !== undefined || this.#ended) return;
    this.#reason = reason;
    this.#timer?.clear();
    this.#timer = undefined;
    this.#controller?.abort(reason);
    const calls = this.#calls;
    this.#calls = undefined;
    if (calls) for (const c of calls) c.abort(reason);
  }

  /**
   * The response was sent: release the timer. Calls still running (work the
   * handler started in the background) are left alone, but stop being tracked.
   */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#timer?.clear();
    this.#timer = undefined;
    this.#calls = undefined;
  }
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The context of the inbound request this code runs for, if any. */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Run `fn(...args)` with `ctx` as the current request context (no closure needed per request). */
export function runInRequestContext<A extends unknown[], R>(ctx: RequestContext, fn: (...args: A) => R, ...args: A): R {
  return storage.run(ctx, fn, ...args);
}

/** Run `fn` outside any request context: work shared by many requests (a gRPC channel's name resolution) must not take one's deadline. */
export function outsideRequestContext<R>(fn: () => R): R {
  return storage.exit(fn);
}
