/**
 * The answer of a forwarded request, streamed to the client that asked: the
 * status and end-to-end headers at once, the body as it comes (no buffering,
 * the upstream paused while the client is slow to read), and a client that
 * leaves stops the upstream request.
 *
 * It is the undici handler of the forwarded request itself (the legacy shape
 * undici's core and the mesh's dispatcher speak natively), not a consumer of
 * undici's `request` API: that API parses the answer's headers into an
 * object (lower-casing every name), wraps the body in a Readable stream, and
 * settles a promise, per request, only for the relay to copy the headers and
 * read the stream again. Here the raw header list goes to `writeHead` as a
 * flat list (hop-by-hop fields dropped, hop-by-hop.ts) and each chunk to
 * `res.write`; `false` from it pauses the upstream socket until 'drain'.
 * Measured in docs/benchmarks.md ("The floor, and the relay on undici's handler API").
 *
 * By hand rather than with stream.pipeline: pipeline makes an AbortController
 * per call and aborts it when the streams finish, and that abort builds a
 * DOMException (a stack trace) for every response.
 */
import http from 'node:http';
import type { Readable } from 'node:stream';
import { endToEndRawResponseHeaders } from './hop-by-hop.js';

/**
 * What a relay does with a request that failed before its answer started (the status line not sent yet):
 * each edge answers in its own words (error-response.ts). One function per edge, not a closure per request.
 */
export type RelayFailure = (res: http.ServerResponse, err: Error, relay: ResponseRelay) => void;

const kRelay = Symbol('hyphae.relay');
type RelayedResponse = http.ServerResponse & { [kRelay]?: ResponseRelay };

const noop = (): void => {};

/** The client left before its answer was complete: the request it asked for stops. Shared by every response. */
function onResponseClose(this: RelayedResponse): void {
  if (!this.writableFinished) this[kRelay]?.abort(new ClientGoneError());
}

/** The client read what it was sent: the upstream body goes on. */
function onResponseDrain(this: RelayedResponse): void {
  this[kRelay]?.resumeBody();
}

/** The legacy handler shape of undici's core (onConnect, onHeaders, onData, onComplete, onError). */
export class ResponseRelay {
  /** Why this relay stopped the request itself (the client left, the deadline signal fired); undefined otherwise. */
  abortReason: Error | undefined;
  readonly #res: RelayedResponse;
  /** The request body sent (a stream): destroyed when the request fails, as undici's own request API does. */
  readonly #body: Readable | undefined;
  readonly #fail: RelayFailure;
  readonly #signal: AbortSignal | undefined;
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #done = false;

  /** `signal`: stops the request when it fires (a deadline), with its reason; the client leaving always does. */
  constructor(res: http.ServerResponse, body: Readable | undefined, fail: RelayFailure, signal?: AbortSignal) {
    this.#res = res;
    this.#body = body;
    this.#fail = fail;
    this.#signal = signal;
    (res as RelayedResponse)[kRelay] = this;
    res.once('close', onResponseClose);
    if (signal !== undefined) {
      if (signal.aborted) this.abort(signal.reason as Error);
      // The relay is the listener (handleEvent): no closure per request.
      else signal.addEventListener('abort', this);
    }
  }

  /** The signal fired. */
  handleEvent(): void {
    this.abort(this.#signal!.reason as Error);
  }

  /** Stop the request: at once once undici has handed its abort, else as soon as it does (onConnect). */
  abort(reason: Error): void {
    if (this.#done || this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.#abort?.(reason);
  }

  resumeBody(): void {
    this.#resume?.();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.abortReason !== undefined) abort(this.abortReason);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // An interim answer (100 Continue): Node's server answered the client's expectation itself.
    if (statusCode < 200) return true;
    this.#resume = resume;
    const res = this.#res;
    if (res.destroyed) {
      this.abort(new ClientGoneError());
      return false;
    }
    // An answer before the request's body has all come in (an early refusal: 401, 413): the transport stops
    // sending the body once the answer is complete, and the rest would sit unread in front of the client's next
    // request on that connection, which then never gets an answer. The connection closes after this answer
    // (nginx reads and discards the rest instead). HTTP/1.1 only: HTTP/2 ends the stream, not the connection.
    // The request is read, not the body sent: a gateway sends a size-limited stream of it.
    const req = res.req as http.IncomingMessage | undefined;
    if (req instanceof http.IncomingMessage && !req.complete) res.setHeader('connection', 'close');
    writeHead(res, statusCode, endToEndRawResponseHeaders(rawHeaders));
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.#res;
    // Gone (the mesh hands a held first chunk along with the headers): the abort is under way.
    if (res.destroyed) return false;
    if (res.write(chunk)) return true;
    res.once('drain', onResponseDrain);
    return false;
  }

  onComplete(): void {
    this.#finish();
    if (!this.#res.destroyed) this.#res.end();
  }

  onError(err: Error): void {
    this.#finish();
    destroyBody(this.#body, err);
    const res = this.#res;
    // A body cut mid-way must reach the client as a cut connection, never as a complete response.
    if (res.headersSent) res.destroy();
    else this.#fail(res, err, this);
  }

  #finish(): void {
    this.#done = true;
    this.#signal?.removeEventListener('abort', this);
  }
}

/**
 * The status and the flat header list. A response with headers set before (a draining server's
 * `Connection: close`) would have `writeHead` set each pair of the list in turn, keeping one value per
 * name: those are appended instead, so that repeated fields (Set-Cookie) all go out.
 */
function writeHead(res: http.ServerResponse, statusCode: number, headers: string[]): void {
  if (res.getHeaderNames().length === 0) {
    res.writeHead(statusCode, headers);
    return;
  }
  for (let i = 0; i < headers.length; i += 2) res.appendHeader(headers[i]!, headers[i + 1]!);
  res.writeHead(statusCode);
}

/**
 * As undici's request API does with a failed request's body: an IncomingMessage is first detached from its
 * socket, so that destroying it does not cut the connection the error answer goes out on.
 */
function destroyBody(body: Readable | undefined, err: Error): void {
  if (body === undefined || body.destroyed) return;
  if (body instanceof http.IncomingMessage) (body as { socket: unknown }).socket = null;
  body.on('error', noop);
  body.destroy(err);
}

/** The reason a relay stops a request whose client left: nobody is left to answer, so nothing is written. */
export class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
  constructor() {
    super('the client closed the connection before the response was complete');
  }
}
