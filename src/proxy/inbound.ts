/**
 * The handler of the proxy's inbound server: a wrapped server (mTLS,
 * authorization, deadline intake, shedding, telemetry and drain all ran
 * before it), forwarding each request to the application over loopback on the
 * raw HTTP/1.1 transport (core/http1/pool.ts: keep-alive, bodies streamed both
 * ways, less CPU a request than undici's Pool), strict about the answers it reads.
 *
 * What the application sees of the mesh, and only from the mesh:
 * - `x-forwarded-client-cert` (xfcc.ts) from the verified peer; every field of
 *   that name from the wire was removed first (the server stack strips the
 *   identity headers; removed here again, since the app trusts this one);
 * - `x-hyphae-deadline-ms`: the budget left when the request leaves the proxy,
 *   and the request to the app is cut at the deadline (504) — the caller has
 *   given up by then.
 */
import type http from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { Http1Pool } from '../core/http1/pool.js';
import { ErrorCode } from '../core/errors.js';
import { DEADLINE_HEADER } from '../resilience/deadline.js';
import { getRemainingMs, getSignal } from '../server/deadline-intake.js';
import { IDENTITY_HEADERS } from '../server/peer.js';
import { endToEndRequestHeaders, hasRequestBody } from '../edge/hop-by-hop.js';
import { ResponseRelay, type RelayFailure } from '../edge/relay.js';
import { respondWithError, sendEdgeError } from '../edge/error-response.js';
import { XFCC_HEADER, xfccValue } from './xfcc.js';
import type { HostPort } from './options.js';

/** Set here from what the mesh verified, never passed on from the caller; `expect` was answered by Node already. */
const REPLACED: ReadonlySet<string> = new Set([...IDENTITY_HEADERS, XFCC_HEADER, DEADLINE_HEADER, 'expect']);

export interface AppForwarder {
  handler: http.RequestListener;
  /** The pool to the application (the health check's GET goes through it too). */
  pool: Http1Pool | Pool;
  close(): Promise<void>;
}

/**
 * `self`: the proxy's SPIFFE ID (XFCC's `By`), read when a request needs it; undefined without mTLS.
 * `transport`: the mesh's http1Transport (undici's Pool only when asked for).
 */
export function appForwarder(upstream: HostPort, self: () => string | undefined, transport: 'undici' | 'raw' = 'raw'): AppForwarder {
  const host = upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host;
  const origin = `http://${host}:${upstream.port}`;
  // Loopback: connects are quick, so a dead application shows as a refused connect at once.
  const poolOptions = { connectTimeout: 2_000, keepAliveTimeout: 4_000 };
  const pool = transport === 'raw' ? new Http1Pool(origin, poolOptions) : new Pool(origin, poolOptions);

  // A failure before the answer started (one function for every request).
  const fail: RelayFailure = (res, err, relay) => {
    // The relay stopped it: the caller left (nobody to answer) or the deadline passed (its reason,
    // HYPHAE_ERR_DEADLINE_EXCEEDED, is the answer).
    const reason = relay.abortReason;
    if (reason !== undefined) {
      if (!res.destroyed) respondWithError(res, reason);
      return;
    }
    const code = (err as { code?: unknown }).code;
    if (code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT') {
      return sendEdgeError(res, 502, ErrorCode.CONNECT_FAILED, `the application at ${upstream.host}:${upstream.port} does not accept connections`);
    }
    respondWithError(res, err);
  };

  const handler: http.RequestListener = (req, res) => {
    const headers = endToEndRequestHeaders(req.rawHeaders, req.headers.connection, REPLACED);
    const xfcc = xfccValue(req, self());
    if (xfcc !== undefined) headers.push(XFCC_HEADER, xfcc);
    const remaining = getRemainingMs();
    if (remaining !== undefined) {
      if (remaining <= 0) return sendEdgeError(res, 504, ErrorCode.DEADLINE_EXCEEDED, 'no time left to reach the application');
      headers.push(DEADLINE_HEADER, String(Math.floor(remaining)));
    }
    const body = hasRequestBody(req.headers) ? req : undefined;
    // The intake's signal (with a deadline) fires at the deadline and when the caller leaves (its context is
    // cancelled then); the relay also stops the request when the caller leaves, deadline or not.
    const relay = new ResponseRelay(res, body, fail, getSignal());
    try {
      // The relay is the request's undici handler: the answer's raw headers and body go straight to `res` (edge/relay.ts).
      pool.dispatch({ path: req.url ?? '/', method: req.method as Dispatcher.HttpMethod, headers, body }, relay);
    } catch (err) {
      relay.onError(err instanceof Error ? err : new Error(String(err)));
    }
  };
  return { handler, pool, close: () => pool.close() };
}
