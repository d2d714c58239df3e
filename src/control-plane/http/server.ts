/**
 * The HTTP server: parses the target, routes, reads the body, runs the
 * handler and answers. Every request is wrapped so that nothing a client
 * sends can throw past this file; malformed HTTP that Node's parser refuses is
 * answered here too, in the same JSON error shape. Peers that hold
 * connections without finishing anything are cut by core/listener-guard.ts.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Socket } from 'node:net';
import { answerClientErrors } from '../../core/client-error.js';
import { applyHttpTimeouts, capConnections, HandshakeDeadlines, sampled, type ListenerLimits } from '../../core/listener-guard.js';
import { limitSendStalls } from '../../core/send-stall.js';
import { lingerOnClose } from '../../core/lingering-close.js';
import { authorize } from '../auth/authorize.js';
import type { Tokens } from '../auth/tokens.js';
import { logTarget, sanitize, type EventLog } from '../log.js';
import { checkContentType, hasBody, parseJson, readBody } from './body.js';
import { HttpError, badRequest, fromStoreError } from './http-error.js';
import { checkSameOrigin } from './origin.js';
import { clusterHeaders, errorReply, sendJson } from './respond.js';
import type { ControlPlaneMetrics } from '../metrics/control-plane-metrics.js';
import type { Route, Router } from './router.js';
import { parseTarget } from './target.js';

export interface ApiServerOptions {
  router: Router;
  bodyLimitBytes: number;
  log: EventLog;
  tokens: Tokens;
  /**
   * Serve HTTPS with this key and certificate (hot-swapped later with setSecureContext); plain HTTP when absent.
   * With `ca` (the trust bundle's roots), clients are asked for a certificate but not required to present one:
   * only the peering link needs one (peering/link-auth.ts); browsers and CLIs connect without.
   */
  tls?: SecureContextOptions;
  limits: ListenerLimits;
  /** Counts each answer by route template and status code (metrics/). */
  metrics?: ControlPlaneMetrics;
  /** This control plane's cluster: named on every answer (respond.ts, clusterHeaders). */
  cluster?: string;
}

export function createApiServer({ router, bodyLimitBytes, log, tokens, tls, limits, metrics, cluster }: ApiServerOptions): http.Server {
  const stamp = clusterHeaders(cluster);
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      // handle() catches everything itself; this is the last line of defence.
      log(`error ${req.method} ${logTarget(req.url)}: ${(err as Error)?.stack ?? String(err)}`);
      if (!res.headersSent) sendJson(res, 500, errorReply(err).body);
      else res.destroy();
    });
  };
  const httpOptions: http.ServerOptions = {
    keepAliveTimeout: 5_000,
    noDelay: true,
    // Checked in handle() instead, so that the answer has the same JSON shape as every other error.
    requireHostHeader: false,
  };
  const server: http.Server = tls
    ? // Node's handshakeTimeout (from the handshake's start; it never destroys) stays as a second net under the deadline below.
      https.createServer({ ...httpOptions, ...tls, ...clientCertificates(tls), minVersion: 'TLSv1.2', handshakeTimeout: limits.tlsHandshakeTimeoutMs }, listener)
    : http.createServer(httpOptions, listener);
  // Bound how long a slow client may hold a connection before its request is complete (slowloris);
  // watch streams are unaffected because their GET completes at once.
  applyHttpTimeouts(server, limits.headersTimeoutMs, limits.requestTimeoutMs);
  // A peer that stops reading (a watch stream's too) would hold its connection and its queued events for ever.
  limitSendStalls(server, limits.sendTimeoutMs);
  capConnections(server, limits.maxConnections, (level, message, fields) => log(`${level === 'warn' ? 'WARNING ' : ''}${message}`, { component: 'server', ...fields }), '--max-connections');
  /** Sockets through their handshake: only these speak HTTP (https forwards handshake errors to 'clientError' too). */
  const secured = new WeakSet<Socket>();
  if (tls) {
    const deadlines = new HandshakeDeadlines(limits.tlsHandshakeTimeoutMs);
    server.on('connection', (socket: Socket) => deadlines.arm(socket));
    server.on('secureConnection', (socket: Socket) => {
      deadlines.settle(socket);
      secured.add(socket);
    });
    let failed = 0;
    // A failed handshake (a plaintext client, a client that distrusts our CA, one too slow) is the client's problem:
    // the socket goes at once (Node leaves it open after its own handshake timeout), and the log is sampled.
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      deadlines.settle(socket);
      socket.destroy();
      if (sampled(++failed)) log(`reject tls from ${socket.remoteAddress ?? '?'}: ${sanitize(err.code ?? err.message, 120)} (${failed} so far)`);
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let bodyRead = !hasBody(req);
    const start = performance.now();
    let matched: Route | undefined;
    // Before any route writes: the streams (watch, stats) write their own heads, which keep what is set here.
    stamp(res);
    try {
      if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
        throw badRequest('an HTTP/1.1 request must carry a Host header');
      }
      const target = parseTarget(req.url);
      const { route, params } = router.match(req.method, target);
      matched = route;
      // Before anything else: a web page's request must not act with this API's authority, token or not.
      checkSameOrigin(req, route, tls !== undefined);
      // Before the body is read: nothing unauthenticated costs more than its headers.
      const principal = authorize(tokens, route.auth ?? 'admin', req);
      const mode = route.body ?? 'none';
      // Every body that can change state is JSON, declared as such: what a page can send without a CORS preflight
      // (text/plain, a form, or a typeless Blob) is refused before it is read.
      if (!bodyRead && (mode !== 'none' || (req.method !== 'GET' && req.method !== 'HEAD'))) checkContentType(req);
      const raw = await readBody(req, bodyLimitBytes);
      bodyRead = true;
      let body: unknown;
      if (mode !== 'none') {
        body = parseJson(raw);
        if (body === undefined && mode === 'required') throw badRequest('the request body is empty; this endpoint expects a JSON object');
      }
      const reply = await route.handle({ req, res, params, query: target.query, body, principal });
      if (reply) sendJson(res, reply.status, reply.body, reply.headers);
    } catch (thrown) {
      const err = fromStoreError(thrown);
      const { status, body, headers } = errorReply(err);
      if (err instanceof HttpError) {
        log(`reject ${status} ${req.method} ${logTarget(req.url)}: ${sanitize(err.message, 500)}`);
      } else {
        log(`error 500 ${req.method} ${logTarget(req.url)}: ${(err as Error)?.stack ?? String(err)}`);
      }
      // An unread body would otherwise be parsed as the next request on this connection; the client, still
      // writing it, must read this answer before the connection goes (lingering close).
      if (!bodyRead) {
        headers.connection = 'close';
        lingerOnClose(req);
      }
      if (res.headersSent) res.destroy();
      else sendJson(res, status, body, headers);
    } finally {
      // The route's template, never the raw path; a stream counts when it opens.
      metrics?.route(matched, req.method).record(res.statusCode, (performance.now() - start) / 1000);
    }
  }

  answerClientErrors(server, {
    limits: () => ({ headersTimeoutMs: server.headersTimeout, requestTimeoutMs: server.requestTimeout }),
    // A handshake that failed or timed out (logged by 'tlsClientError'): no HTTP answer can go through a socket
    // without a TLS session; written there, it would wait for ever, and the socket with it.
    answerable: (socket) => !tls || secured.has(socket),
    refused: (r, socket) => log(`reject ${r.status} from ${socket.remoteAddress ?? '?'}: ${sanitize(r.message)}`),
  });

  return server;
}

/** Ask for a client certificate when there are roots to verify it against; never refuse a handshake for the lack of one. */
function clientCertificates(tls: SecureContextOptions): https.ServerOptions {
  return tls.ca === undefined ? {} : { requestCert: true, rejectUnauthorized: false };
}
