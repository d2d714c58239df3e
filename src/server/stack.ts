/**
 * The server (inbound) stack, assembled here and nowhere else. Outermost first:
 *
 *   strip identity  remove identity headers (IDENTITY_HEADERS) from req.headers and
 *                   req.rawHeaders: first, so no layer and no handler can read one
 *   drain           while draining, every response says Connection: close — before any
 *                   layer that may answer, so refusals tell the client to go elsewhere too
 *   telemetry       the SERVER span (or instrumentation-http's, enriched), the request's
 *                   trace context for the handler, duration metric, stats, access log.
 *                   After strip/drain (cheap, never answer), before every layer that may
 *                   refuse (shedding, normalize, authorization), so refusals are measured and
 *                   traced too; it needs no identity header, only the verified peer
 *   tap             `hyphae tap` (tap.ts): one property read while nothing taps. Beside telemetry
 *                   for the same reason: a tap shows the refusals below it (shed, 400, 403)
 *   load shedding   beyond maxConcurrent requests in progress, or while the event loop
 *                   lags, 503 + Retry-After + x-hyphae-rejected: shed. Before any work:
 *                   normalizing and authorizing cost CPU an overloaded process lacks, and
 *                   the refusal must be cheap to stay cheap under overload
 *   normalize       the request target -> one normalized path (authz/normalize-path.ts);
 *                   req.url is rewritten to it (query kept, path cut at `;` unless the
 *                   server keeps path parameters), 400 when it must be refused.
 *                   Before authorization, so policies match the path the handler will see
 *   authorization   AuthorizationPolicy: DENY, then ALLOW (default deny when any ALLOW
 *                   applies); 403 and the handler never runs. Reads the verified peer
 *                   (getPeer), never a header — which is why stripping comes first
 *   deadline intake the caller's budget (x-hyphae-deadline-ms) -> a request context
 *                   (AsyncLocalStorage) the handler and its mesh calls run in; 504 for a
 *                   request with nothing left. Last: the context is made only for requests
 *                   that will run the handler
 *   (HTTP/2)        the pseudo-headers checked (h2-pseudo-headers.ts), just before normalize
 *   refusal guard   the response drops any x-hyphae-rejected the handler sets: that header
 *                   says the MESH refused (clients replay such requests whatever their
 *                   method), so only the layers above may write it
 *   application     the listeners the user registered for 'request', unchanged
 *
 * Inbound layers are synchronous functions of (req, res): they decide before
 * the application runs and add no promise per request.
 *
 * Node also hands requests to the application through other events than
 * 'request': 'checkContinue' / 'checkExpectation' (an Expect header, when the
 * app listens for them), 'upgrade' (WebSocket...) and 'connect'. Each is a way
 * around authorization if left alone, so buildSideDoors() puts them through
 * the same layers (Upgrade and CONNECT cannot wait for policies, and are
 * refused on the raw socket).
 */
import type http from 'node:http';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { NOT_READY, type InboundAuthorization } from './authz/authorization.js';
import { normalizeTarget } from './authz/normalize-path.js';
import type { Drainer } from './drain.js';
import { stripIdentityHeaders } from './identity-headers.js';
import { isHttp2Request, sessionOf } from './h2.js';
import { checkPseudoHeaders } from './h2-pseudo-headers.js';
import { refusalGuard } from './refusal-guard.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { inboundTelemetry } from './telemetry-layer.js';

export type InboundHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
export type InboundFilter = (next: InboundHandler) => InboundHandler;

/** Layers that are there only when configured (a server without limits has no shedding layer at all). */
export interface OptionalLayers {
  /** The mesh's telemetry (inboundTelemetry); absent: no telemetry layer. */
  telemetry?: MeshTelemetry | undefined;
  /** Load shedding (LoadShedder.filter). */
  shedding?: InboundFilter | undefined;
  /** Deadline intake (deadlineIntake()). */
  deadline?: InboundFilter | undefined;
  /** The tap point (tapLayer()); absent for a server of no mesh service (nothing can tap it). */
  tap?: InboundFilter | undefined;
}

/**
 * `http2`: the stack of HTTP/2 compat requests (Http2ServerRequest/Response, which have what every layer
 * reads and writes: headers, rawHeaders, url, method, socket, statusCode, setHeader, writeHead, 'close').
 * Three layers differ: drain asks the session to go (GOAWAY) instead of setting Connection: close, which
 * HTTP/2 forbids; the pseudo-headers are checked before the path is normalized; the refusal guard wraps
 * the HTTP/2 response's own writeHead.
 */
export function buildServerStack(drainer: Drainer, app: InboundHandler, authz: InboundAuthorization, optional: OptionalLayers = {}, http2 = false): InboundHandler {
  const layers: InboundFilter[] = [
    stripIdentityLayer(),
    http2 ? h2DrainLayer(drainer) : drainLayer(drainer),
    ...(optional.telemetry ? [inboundTelemetry(optional.telemetry, http2)] : []),
    ...(optional.tap ? [optional.tap] : []),
    ...(optional.shedding ? [optional.shedding] : []),
    ...(http2 ? [pseudoHeaderLayer(authz)] : []),
    normalizeLayer(authz),
    authorizationLayer(authz),
    ...(optional.deadline ? [optional.deadline] : []),
    refusalGuard(http2),
  ];
  let handler = app;
  for (let i = layers.length - 1; i >= 0; i--) handler = layers[i]!(handler);
  return handler;
}

function stripIdentityLayer(): InboundFilter {
  return (next) => (req, res) => {
    stripIdentityHeaders(req);
    next(req, res);
  };
}

function drainLayer(drainer: Drainer): InboundFilter {
  return (next) => (req, res) => {
    if (drainer.draining) res.setHeader('connection', 'close');
    next(req, res);
  };
}

/** A stream that starts while the server drains: its session is told to go (GOAWAY, idempotent); this stream still runs. */
function h2DrainLayer(drainer: Drainer): InboundFilter {
  return (next) => (req, res) => {
    if (drainer.draining) sessionOf(req)?.close();
    next(req, res);
  };
}

function pseudoHeaderLayer(authz: InboundAuthorization): InboundFilter {
  return (next) => (req, res) => {
    const bad = checkPseudoHeaders(req.headers, req.method);
    if (bad !== undefined) return authz.badTarget(req, res, bad.refused);
    next(req, res);
  };
}

function normalizeLayer(authz: InboundAuthorization): InboundFilter {
  return (next) => (req, res) => {
    const url = normalizeTarget(req.url ?? '', authz.semicolons);
    if (typeof url !== 'string') return authz.badTarget(req, res, url.refused);
    if (url !== req.url) req.url = url;
    next(req, res);
  };
}

function authorizationLayer(authz: InboundAuthorization): InboundFilter {
  return (next) => (req, res) => authz.check(req, res, next);
}

/** Events other than 'request' that carry a request to the application. */
export const SIDE_DOORS: ReadonlySet<string | symbol> = new Set(['checkContinue', 'checkExpectation', 'upgrade', 'connect']);

/**
 * The handler of the SIDE_DOORS events: `emit` passes an event on to the
 * application's listeners, once the request got through. Returns what emit returns.
 */
export function buildSideDoors(
  drainer: Drainer,
  authz: InboundAuthorization,
  emit: (event: string, args: unknown[]) => boolean,
  optional: OptionalLayers = {},
  http2 = false,
): (event: string, args: unknown[]) => boolean {
  const onContinue = buildServerStack(drainer, (req, res) => void emit('checkContinue', [req, res]), authz, optional);
  const onExpectation = buildServerStack(drainer, (req, res) => void emit('checkExpectation', [req, res]), authz, optional);
  // An HTTP/2 server's compat API emits 'checkContinue' (and 'connect') with its own request objects.
  const onH2Continue = http2 ? buildServerStack(drainer, (req, res) => void emit('checkContinue', [req, res]), authz, optional, true) : onContinue;
  return (event, args) => {
    const req = args[0] as http.IncomingMessage;
    switch (event) {
      case 'checkContinue':
        (http2 && isHttp2Request(req) ? onH2Continue : onContinue)(req, args[1] as http.ServerResponse);
        return true;
      case 'checkExpectation':
        onExpectation(req, args[1] as http.ServerResponse);
        return true;
      default:
        // upgrade, connect: (req, socket, head)
        return rawRequestAllowed(authz, req, args[1] as Duplex, event === 'upgrade') ? emit(event, args) : true;
    }
  };
}

/**
 * HTTP/2's core API: a 'stream' event (stream, headers, flags, rawHeaders) has no request or response
 * object, and the application answers on the stream. It gets what a request without a response gets
 * (an Upgrade's): identity headers stripped, the pseudo-headers checked, `:path` normalized in place
 * (the handler reads the normalized one), authorization (503 at once while the policies are unknown:
 * nothing to hold it with). The telemetry, shedding and deadline layers need a response: compat API only.
 * Returns whether the stream may go on to the application.
 */
export function buildStreamGuard(drainer: Drainer, authz: InboundAuthorization): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]) => boolean {
  return (stream, headers, rawHeaders) => {
    const req = { method: headers[':method'], url: headers[':path'], headers, rawHeaders, socket: stream.session?.socket } as unknown as http.IncomingMessage;
    if (drainer.draining) stream.session?.close();
    const bad = checkPseudoHeaders(headers, req.method);
    if (bad !== undefined) {
      authz.badTarget(req, stream, bad.refused);
      return false;
    }
    if (!rawRequestAllowed(authz, req, stream, true)) return false;
    headers[':path'] = req.url;
    return true;
  };
}

/** The layers above for a request that has a socket instead of a response. A CONNECT target is an authority, not a path: it is matched as is. */
function rawRequestAllowed(authz: InboundAuthorization, req: http.IncomingMessage, socket: Duplex, isUpgrade: boolean): boolean {
  stripIdentityHeaders(req);
  if (isUpgrade) {
    const url = normalizeTarget(req.url ?? '', authz.semicolons);
    if (typeof url !== 'string') {
      authz.badTarget(req, socket, url.refused);
      return false;
    }
    req.url = url;
  }
  const decision = authz.decide(req);
  if (decision === undefined) return true;
  if (decision === NOT_READY) authz.notReady(socket);
  else authz.deny(req, socket, decision);
  return false;
}
