/**
 * One try of a call on one endpoint. It is the handler undici's pool talks to,
 * and the value the stack's layers see: it settles when the response headers
 * arrive, holds the body back while the layers decide (deliver it to the
 * application, or discard it and try again), then streams the rest straight
 * through without copying.
 *
 * It also makes the try's one verdict (core/classifier.ts): `verdict` for a
 * response, read from its status and the peer's refusal header; for a
 * failure, the verdict of the error it rejects with, made as it fails (the
 * call's abort state then is part of it). Retry, outlier detection, error
 * mapping and telemetry read that verdict and never classify again.
 */
import { errorVerdict, responseVerdict, type Verdict } from '../../core/classifier.js';
import { REFUSED_HEADER } from '../../resilience/refusal.js';
import type { Endpoint } from './endpoint.js';
import type { AbortableAttempt, MeshCall } from '../call/mesh-call.js';

/** How much of a response body an attempt holds while the stack decides, before it pauses the socket. */
const HOLD_BYTES = 64 * 1024;

/** undici's own resume goes to the application as it is (no wrapper per response). */
const noop = (): void => {};

const enum State {
  Waiting,
  Headers,
  Delivered,
  Discarded,
  Finished,
}

export class Attempt implements AbortableAttempt {
  readonly call: MeshCall;
  readonly endpoint: Endpoint;
  readonly promise: Promise<Attempt>;
  statusCode = 0;
  statusText = '';
  rawHeaders: Buffer[] = [];
  #state = State.Waiting;
  #resolve!: (a: Attempt) => void;
  #reject!: (err: Error) => void;
  #abort: ((err: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  /** The body held while the stack decides: the first chunk, then the others. */
  #first: Buffer | undefined;
  #buffered: Buffer[] | undefined;
  #bufferedBytes = 0;
  #ended = false;
  #trailers: string[] | Buffer[] | null = null;
  #error: Error | undefined;
  #responseStarted = false;
  #released = false;
  /** performance.now() when the attempt was sent: the latency sample is the time to response headers. */
  #sentAt: number;
  /** Aborted before undici put the request on a socket: the reason, to hand undici once it does. */
  #early: Error | undefined;
  #verdict: Verdict | undefined;

  constructor(call: MeshCall, endpoint: Endpoint) {
    this.call = call;
    this.endpoint = endpoint;
    endpoint.inflight++;
    this.#sentAt = performance.now();
    this.promise = new Promise<Attempt>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Abortable from the start, not only once connected (see abortNow).
    call.setAttempt(this);
  }

  /**
   * Stop this attempt (the call's deadline, a per-try timeout, the
   * application). undici hands out its abort function only when the request is
   * written on a connected socket (onConnect); before that — a connect that
   * no one answers can take undici's whole connect timeout, 10 s — the attempt
   * settles at once with the reason, and undici's request is aborted as soon as
   * it is connected (or fails to be). The endpoint stays counted in flight
   * until then, since it is.
   */
  abortNow(err: Error): void {
    if (this.#abort) {
      // A response undici has finished with (held whole, see onHeaders) cannot be aborted there any more:
      // it fails here, as one whose body was still arriving would.
      if (this.#state === State.Headers && this.#ended && this.#error === undefined) this.#error = err;
      this.#abort(err);
      return;
    }
    if (this.#early !== undefined || this.#state !== State.Waiting) return;
    this.#early = err;
    this.#fail(err);
  }

  /**
   * This try's verdict: of its response (status, and the peer mesh's refusal on a 503/504), made on first read;
   * of its failure, made as it failed. A shared constant either way.
   */
  get verdict(): Verdict {
    if (this.#verdict === undefined) {
      const status = this.statusCode;
      this.#verdict = responseVerdict(status, (status === 503 || status === 504) && this.header(REFUSED_HEADER) !== undefined);
    }
    return this.#verdict;
  }

  /** The try failed before its response: its verdict is made now, while the call's abort state is the one it failed in. */
  #fail(err: Error): void {
    this.#verdict = errorVerdict(err, this.call.abortReason !== undefined);
    this.#reject(err);
  }

  /** A response header by lower-case name (first value), read from the raw list without building an object. */
  header(name: string): string | undefined {
    const raw = this.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const k = raw[i]!;
      if (k.length === name.length && k.toString('latin1').toLowerCase() === name) return raw[i + 1]!.toString('latin1');
    }
    return undefined;
  }

  // ---- undici handler (legacy shape: native to undici's core, no conversion) ----

  onConnect(abort: (err: Error) => void): void {
    this.#abort = abort;
    if (this.#early !== undefined) abort(this.#early);
  }

  onResponseStarted(): void {
    this.#responseStarted = true;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // undici tells of every interim answer (103 Early Hints) as of a response; the response is the final one.
    // Not passed on: the mesh call has one answer (a 100 Continue is the server's own business).
    if (statusCode < 200) return true;
    if (this.#state !== State.Waiting || this.#early !== undefined) return true;
    this.statusCode = statusCode;
    this.rawHeaders = rawHeaders;
    this.statusText = statusText;
    this.#resume = resume;
    this.#state = State.Headers;
    const now = performance.now();
    this.endpoint.latency.observe(now - this.#sentAt, now);
    this.#resolve(this);
    // The body is held here until the stack decides to deliver or discard this response, without pausing
    // undici: the decision comes in the microtasks that follow, before the socket's next read, so what is
    // held is at most what this read brought (a small response whole). Pausing would cost every response
    // a round of socket.unshift(), socket.read() and a second parser run in undici; see onData's bound.
    return true;
  }

  onData(chunk: Buffer): boolean {
    switch (this.#state) {
      case State.Delivered:
        return this.call.handler.onData?.(chunk) ?? true;
      case State.Headers:
        // One chunk (a small response) in a field; an array only for more.
        if (this.#first === undefined) this.#first = chunk;
        else (this.#buffered ??= []).push(chunk);
        this.#bufferedBytes += chunk.length;
        // Paused (deliver() resumes) past the bound: a layer that waits on something else before deciding
        // (a custom filter) never makes the mesh buffer a large body.
        return this.#bufferedBytes < HOLD_BYTES;
      default:
        return true;
    }
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    if (this.#state === State.Delivered) {
      this.#finish();
      this.call.complete(trailers);
    } else if (this.#state === State.Headers) {
      this.#ended = true;
      this.#trailers = trailers;
    } else {
      this.#finish();
    }
  }

  onError(err: Error): void {
    switch (this.#state) {
      case State.Waiting:
        this.#finish();
        this.#fail(err);
        return;
      case State.Delivered:
        this.#finish();
        this.call.fail(err);
        return;
      case State.Headers:
        this.#error = err;
        return;
      default:
        this.#finish();
    }
  }

  // ---- decisions of the stack ----

  /** Hand the response to the application: headers now, then the body as it streams. */
  deliver(): void {
    if (this.#state !== State.Headers) return;
    this.#state = State.Delivered;
    const h = this.call.handler;
    if (this.#responseStarted) h.onResponseStarted?.();
    const keepGoing = h.onHeaders?.(this.statusCode, this.rawHeaders, this.#resume ?? noop, this.statusText) ?? true;
    const first = this.#first;
    const buffered = this.#buffered;
    this.#first = undefined;
    this.#buffered = undefined;
    let flowing = keepGoing;
    if (first !== undefined) flowing = (h.onData?.(first) ?? true) && flowing;
    if (buffered) for (const chunk of buffered) flowing = (h.onData?.(chunk) ?? true) && flowing;
    if (this.#error) {
      this.#finish();
      this.call.fail(this.#error);
    } else if (this.#ended) {
      this.#finish();
      this.call.complete(this.#trailers);
    } else if (flowing) {
      this.#resume?.();
    }
  }

  /** Drop this response (a retry will replace it): the socket is aborted, nothing reaches the application. */
  discard(): void {
    if (this.#state !== State.Headers) return;
    this.#state = State.Discarded;
    this.#first = undefined;
    this.#buffered = undefined;
    if (this.#ended || this.#error) this.#finish();
    else this.#abort?.(new Error('response discarded by the mesh'));
    this.call.setAttempt(undefined);
  }

  #finish(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#state !== State.Discarded) this.#state = State.Finished;
    this.endpoint.inflight--;
  }
}
