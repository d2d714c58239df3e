/**
 * One port of a gateway: an http.Server (HTTP) or https.Server (HTTPS,
 * certificates by SNI) wrapped by the mesh (Mesh.wrapServer with mtls: false
 * and register: false), so that it has exactly a wrapped server's inbound
 * layers — identity headers stripped, the request target normalized as every
 * mesh server normalizes it (a policy behind the gateway cannot be walked
 * around through it), telemetry (server span, access log, metrics), header
 * and request timeouts, a connection cap, and drain on close() — and the
 * gateway's handler after them.
 *
 * What a wrapped server does not have, added here: a deadline from accept to
 * the first request's headers (listener-guard's HandshakeDeadlines: the TLS
 * handshake plus edge.timeouts.requestHeaders). On an HTTPS port nothing else
 * bounds the handshake well: https.Server's handshakeTimeout (120 s by
 * default) only reports to a 'tlsClientError' listener and leaves the socket
 * open (a wrapped server has the mTLS front's deadline for that; these
 * listeners do not). On an HTTP port it runs beside Node's header timer,
 * which also counts a connection's first request from accept.
 * Also the idle keep-alive timeout, the same idle limit on a connection
 * where nothing moves (a peer that never reads its answer), and the header
 * size limit; what the parser refuses (400, 408, 431) is answered with a
 * coded JSON body (core/client-error.ts).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type tls from 'node:tls';
import { answerClientErrors } from '../core/client-error.js';
import { DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, HandshakeDeadlines, applyHttpTimeouts } from '../core/listener-guard.js';
import type { GatewayEdgeSpec } from '../config/resources/gateway.js';
import type { Mesh } from '../mesh/mesh.js';
import { passTraceItself } from '../telemetry/server-request.js';
import { takeDeadlineItself } from '../server/deadline-intake.js';
import type { LoadedCertificate } from './tls-contexts.js';

export type Protocol = 'HTTP' | 'HTTPS';

/** Must put the request's trace headers (incomingTraceHeaders) on the calls it makes: see passTraceItself. */
export interface PortHandler {
  (req: http.IncomingMessage, res: http.ServerResponse, port: number, proto: 'http' | 'https'): void;
}

export class PortListener {
  readonly port: number;
  readonly protocol: Protocol;
  readonly maxHeaderSize: number;
  readonly server: http.Server;
  /** The certificate the HTTPS server answers a ClientHello without SNI with (setDefaultCertificate). */
  #defaultCertificate: LoadedCertificate | undefined;

  /** `certificate(servername)`: the context for a ClientHello on this port (HTTPS). */
  constructor(
    mesh: Mesh,
    port: number,
    protocol: Protocol,
    edge: GatewayEdgeSpec,
    gracePeriodMs: number,
    handler: PortHandler,
    certificate: (servername: string | undefined) => LoadedCertificate | undefined,
  ) {
    this.port = port;
    this.protocol = protocol;
    this.maxHeaderSize = edge.maxRequestHeaderBytes;
    const proto = protocol === 'HTTPS' ? 'https' : 'http';
    const deadlines = new HandshakeDeadlines((protocol === 'HTTPS' ? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS : 0) + edge.timeouts.requestHeaders);
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      // The first request's headers are in: from here Node's own timeouts (request, keep-alive idle) hold it.
      if (deadlines.pending > 0) deadlines.settle(req.socket);
      handler(req, res, port, proto);
    };
    if (protocol === 'HTTPS') {
      const first = certificate(undefined);
      this.#defaultCertificate = first;
      const server = https.createServer(
        {
          maxHeaderSize: this.maxHeaderSize,
          ...(first ? { cert: first.cert, key: first.key } : {}),
          SNICallback: (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => cb(null, certificate(servername)?.context),
        },
        onRequest,
      );
      // A failed handshake (a scanner, a bad ClientHello): nothing to answer, nothing to keep.
      server.on('tlsClientError', (_err: Error, s: tls.TLSSocket) => s.destroy());
      this.server = server;
    } else {
      this.server = http.createServer({ maxHeaderSize: this.maxHeaderSize }, onRequest);
    }
    this.server.on('connection', (raw: Socket) => deadlines.arm(raw));
    // Node's 400, 408 and 431 have no body; the gateway's carry the code and message of its other errors.
    const secured = new WeakSet<Socket>();
    if (protocol === 'HTTPS') this.server.on('secureConnection', (s: Socket) => secured.add(s));
    answerClientErrors(this.server, {
      limits: () => ({ headersTimeoutMs: this.server.headersTimeout, requestTimeoutMs: this.server.requestTimeout, maxHeaderSize: this.maxHeaderSize }),
      // A TLS socket whose handshake did not finish cannot carry an HTTP answer.
      answerable: (socket) => protocol === 'HTTP' || secured.has(socket),
    });
    this.server.once('close', () => deadlines.destroyAll());
    // The handler (the gateway's forwarder) sets each request's trace headers on its mesh call itself.
    passTraceItself(this.server);
    // The handler believes a client's deadline only if the Gateway says so (edge.trustDeadlineHeader), read per
    // request since it changes live; the intake would believe it always, and enter an AsyncLocalStorage for it.
    takeDeadlineItself(this.server);
    mesh.wrapServer(this.server, {
      register: false,
      mtls: false,
      // The gateway's own drain delay (readyz failing) comes before close(): nothing to wait for here.
      drainDelayMs: 0,
      gracePeriodMs,
      headersTimeoutMs: edge.timeouts.requestHeaders,
      requestTimeoutMs: edge.timeouts.request,
    });
    this.applyEdge(edge);
  }

  /** Timeouts that can change on a listening server. */
  applyEdge(edge: GatewayEdgeSpec): void {
    applyHttpTimeouts(this.server, edge.timeouts.requestHeaders, edge.timeouts.request);
    this.server.keepAliveTimeout = edge.timeouts.idle;
    // A connection on which nothing moves either way for `idle`, a request in flight or not, is destroyed.
    // Node has no such limit by default, and nothing else bounds the answer's way out: a peer that asks for
    // a large answer and reads none of it held its connection, and through backpressure the gateway's call
    // to the service, for ever (nginx bounds it with send_timeout and proxy_read_timeout, 60 s). A service
    // still thinking is bounded sooner by the route's timeout.
    this.server.timeout = edge.timeouts.idle;
  }

  /**
   * A new default certificate (a ClientHello without SNI) after the files changed. The gateway asks on every
   * certificate check (5 s) and snapshot: the same certificate is not applied again. setSecureContext makes a
   * new context each time, with new session ticket keys: every client's TLS session was lost every 5 s (with
   * SNI too: tickets are the default context's), so its next connection paid a full handshake; and parsing
   * the PEMs again held the event loop ~1 ms each time.
   */
  setDefaultCertificate(c: LoadedCertificate | undefined): void {
    if (c === undefined || c === this.#defaultCertificate || !(this.server instanceof https.Server)) return;
    this.server.setSecureContext({ cert: c.cert, key: c.key });
    this.#defaultCertificate = c;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | undefined {
    return (this.server.address() as AddressInfo | null) ?? undefined;
  }

  /** Drain (wrapServer's: Connection: close on every response, idle keep-alive connections closed, the rest cut at the grace period). */
  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
