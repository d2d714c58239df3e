/**
 * RequestMirror: fire-and-forget copies of requests to a mirror backend
 * (Envoy's request_mirror_policies, Istio's mirror). A copy never affects the
 * caller: it is sent after the routing decision without being awaited, its
 * response is read and dropped, its errors are swallowed and counted, at most
 * `maxInFlight` copies are outstanding per destination (more are dropped, so a
 * slow mirror cannot pile up work), and a request whose body is a stream is
 * not copied, since teeing it would tie the caller's upload to the mirror.
 */
import type { Dispatcher } from 'undici';
import type { MeshCall } from '../../call/mesh-call.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import type { Backend } from './backend.js';
import { withOptions } from '../../call/options-copy.js';

export interface MirrorStats {
  /** Copies handed to a mirror endpoint. */
  sent: number;
  /** Copies that got a response below 500. */
  succeeded: number;
  /** Copies that failed: transport error, a 5xx, or no mirror endpoint. */
  failed: number;
  /** Not sent: too many copies in flight, or the mirror service not known yet. */
  dropped: number;
  /** Not sent: the request body is a stream, or the request is an upgrade or CONNECT. */
  skipped: number;
}

/** Per-copy timeouts: a mirror copy holds a slot, so it must give it back. */
const MIRROR_TIMEOUT_MS = 10_000;

export class MirrorSender {
  readonly stats: MirrorStats = { sent: 0, succeeded: 0, failed: 0, dropped: 0, skipped: 0 };
  readonly maxInFlight: number;
  inFlight = 0;

  constructor(maxInFlight = 64) {
    this.maxInFlight = maxInFlight;
  }

  send(call: MeshCall, backend: Backend): void {
    const opts = call.opts;
    // A streamed body cannot be sent twice; an upgrade (WebSocket) or CONNECT is a tunnel, not a request to copy.
    if (!replayable(opts.body) || opts.upgrade || opts.method === 'CONNECT') {
      this.stats.skipped++;
      return;
    }
    if (this.inFlight >= this.maxInFlight || !backend.destination.isReady) {
      this.stats.dropped++;
      return;
    }
    const ep = backend.subset.pick(call);
    if (ep === undefined) {
      this.stats.failed++;
      return;
    }
    this.inFlight++;
    this.stats.sent++;
    const handler = new MirrorHandler(this, ep);
    try {
      ep.pool.dispatch(withOptions(opts, { headersTimeout: MIRROR_TIMEOUT_MS, bodyTimeout: MIRROR_TIMEOUT_MS }), handler);
    } catch {
      handler.onError();
    }
  }

  done(ok: boolean): void {
    this.inFlight--;
    if (ok) this.stats.succeeded++;
    else this.stats.failed++;
  }
}

/** Strings and buffers can be sent twice; streams and iterables cannot. */
function replayable(body: Dispatcher.DispatchOptions['body']): boolean {
  return body == null || typeof body === 'string' || body instanceof Uint8Array;
}

/** Reads the mirror's response and drops it; exactly one of complete/error ends it. */
class MirrorHandler {
  #sender: MirrorSender;
  #endpoint: Endpoint;
  #status = 0;
  #finished = false;

  constructor(sender: MirrorSender, endpoint: Endpoint) {
    this.#sender = sender;
    this.#endpoint = endpoint;
    endpoint.inflight++;
  }

  onConnect(): void {}

  onHeaders(statusCode: number): boolean {
    this.#status = statusCode;
    return true;
  }

  onData(): boolean {
    return true;
  }

  onComplete(): void {
    this.#finish(this.#status > 0 && this.#status < 500);
  }

  onError(): void {
    this.#finish(false);
  }

  #finish(ok: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#endpoint.inflight--;
    this.#sender.done(ok);
  }
}
