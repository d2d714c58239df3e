import { errors, type Dispatcher } from 'undici';
import type { RequestHeadBytes } from './request-head.js';

/**
 * One request of the raw HTTP/1.1 transport (pool.ts) from dispatch to its end: what the connection that
 * carries it needs (the head to write, the handler to tell, the timeouts), and how it was stopped.
 */
export type LegacyHandler = Dispatcher.DispatchHandler & {
  onConnect?(abort: (err?: Error) => void): void;
  onHeaders?(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: Buffer[] | string[] | null): void;
  onError?(err: Error): void;
  onResponseStarted?(): void;
};

/** A stream body, as far as its errors go. */
interface ErrorSource {
  on(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
}

/** The connection an exchange is on, as the exchange sees it. */
export interface ExchangeCarrier {
  abortExchange(exchange: Exchange, err: Error): void;
}

export class Exchange {
  /** The connection carrying it; undefined while it waits for one. */
  carrier: ExchangeCarrier | undefined;
  /** Settled: answered, failed or aborted; the handler hears nothing more. */
  done = false;
  /** The original dispatch options (an exchange handed to undici goes with them). */
  readonly opts: Dispatcher.DispatchOptions;
  readonly handler: LegacyHandler;
  readonly bytes: RequestHeadBytes;
  readonly method: string;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  /** Why it was aborted before a connection took it (the pool drops it from its queue). */
  abortedWith: Error | undefined;
  /** The abort function handed to the handler: bound once, here. */
  readonly abort = (err?: Error): void => {
    if (this.done) return;
    const reason = err ?? new errors.RequestAbortedError();
    if (this.carrier !== undefined) this.carrier.abortExchange(this, reason);
    else {
      this.abortedWith = reason;
      this.fail(reason);
    }
  };

  readonly #onSettled: () => void;
  /** A stream body, listened to for its errors from dispatch on (as undici): one while queued fails the request. */
  readonly #body: ErrorSource | undefined;

  /** `onSettled`: told once, as the exchange settles (the pool counts what is in flight). */
  constructor(opts: Dispatcher.DispatchOptions, handler: LegacyHandler, bytes: RequestHeadBytes, headersTimeout: number, bodyTimeout: number, onSettled: () => void) {
    this.#onSettled = onSettled;
    this.opts = opts;
    this.handler = handler;
    this.bytes = bytes;
    this.method = opts.method;
    this.headersTimeout = headersTimeout;
    this.bodyTimeout = bodyTimeout;
    const body = bytes.body;
    if (body !== undefined && !Buffer.isBuffer(body)) {
      const source = body as unknown as ErrorSource;
      source.on('error', this.abort);
      this.#body = source;
    }
  }

  /** Marks it settled; false when it already was (the caller then tells the handler nothing). */
  settle(): boolean {
    if (this.done) return false;
    this.done = true;
    this.#body?.off('error', this.abort);
    this.#onSettled();
    return true;
  }

  fail(err: Error): void {
    if (this.settle()) this.handler.onError?.(err);
  }
}
