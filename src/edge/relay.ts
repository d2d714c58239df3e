/**
 * The answer of a forwarded request, streamed to the client that asked: the
 * status and end-to-end headers at once, the body as it comes (no buffering,
 * the upstream paused while the client is slow to read), and a client that
 * leaves stops the upstream body.
 *
 * By hand rather than with stream.pipeline: pipeline makes an AbortController
 * per call and aborts it when the streams finish, and that abort builds a
 * DOMException (a stack trace) for every response — measured at about 4 % of
 * a proxy's CPU, more than the relay itself.
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { Dispatcher } from 'undici';
import { endToEndResponseHeaders } from './hop-by-hop.js';

export function relayResponse(res: http.ServerResponse, upstream: Dispatcher.ResponseData): void {
  const body = upstream.body;
  if (res.destroyed) {
    // The client left while the headers were on their way: release the upstream connection's body.
    body.destroy();
    return;
  }
  res.writeHead(upstream.statusCode, endToEndResponseHeaders(upstream.headers));
  body.on('data', (chunk: Buffer) => {
    if (!res.write(chunk)) body.pause();
  });
  res.on('drain', () => body.resume());
  body.once('end', () => res.end());
  // A body cut mid-way must reach the client as a cut connection, never as a complete response.
  body.once('error', () => res.destroy());
  res.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
}

/**
 * What undici accepts as a request's `signal` besides an AbortSignal: an EventEmitter with `aborted` and
 * `reason`, told 'abort'. One per forwarded request, so the cheaper kind: an AbortController makes an
 * EventTarget, measured at about 2 % of a proxy's CPU.
 */
export class ClientGoneSignal extends EventEmitter {
  aborted = false;
  reason: ClientGoneError | undefined;
}

function onResponseClose(this: http.ServerResponse & { [kSignal]?: ClientGoneSignal }): void {
  const signal = this[kSignal];
  if (signal === undefined || this.writableFinished) return;
  signal.aborted = true;
  signal.reason = new ClientGoneError();
  signal.emit('abort');
}

const kSignal = Symbol('hyphae.clientGone');

/**
 * A signal that fires when the client goes away before its response is complete: handed to the upstream
 * request, it stops the work the client no longer waits for. No closure per request: the response holds it.
 */
export function clientGone(res: http.ServerResponse): ClientGoneSignal {
  const signal = new ClientGoneSignal();
  (res as http.ServerResponse & { [kSignal]?: ClientGoneSignal })[kSignal] = signal;
  res.once('close', onResponseClose);
  return signal;
}

/** The reason of clientGone's signal: nobody is left to answer, so nothing is written. */
export class ClientGoneError extends Error {
  override readonly name = 'ClientGoneError';
  constructor() {
    super('the client closed the connection before the response was complete');
  }
}
