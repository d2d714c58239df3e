/**
 * The mTLS front of a wrapped server. The user's http.Server still owns the
 * listening socket (so listen(), address() and close() are untouched); each
 * connection it accepts is held here until its first byte says what it is:
 *
 *   0x16 (a TLS handshake record): handed to an internal tls.Server that
 *     never listens. It asks for a client certificate; OpenSSL's verdict must
 *     be "authorized" (chain to the trust bundle, dates, clientAuth purpose),
 *     then checkPeerCertificate() requires exactly one workload URI SAN, no
 *     CA, clientAuth. Only a socket that passes is given to HTTP, with its
 *     peer recorded (setPeer). Refusals happen before any HTTP.
 *   anything else (plaintext): closed in STRICT mode; given to HTTP in
 *     PERMISSIVE and DISABLE mode (DISABLE still accepts TLS, so that a switch
 *     between modes never breaks a client that has not heard of it yet).
 *
 * Every connection has one deadline from accept to the end of its handshake
 * (or to its first byte, for plaintext): the wait for the mesh, for the first
 * byte and for the handshake all count (core/listener-guard.ts). A peer that
 * half-closes before its first byte is closed at once.
 *
 * The mode is read per connection, so a PeerAuthentication change applies at
 * once; on a switch to STRICT, plaintext connections are closed and any
 * plaintext request still arriving is dropped before the stack. A new
 * certificate or trust bundle is swapped into the tls.Server's context;
 * connections already open carry on with theirs.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Disposer } from '../core/events.js';
import { HandshakeDeadlines, sampled } from '../core/listener-guard.js';
import type { Logger } from '../core/logger.js';
import type { MtlsMode } from '../config/resources.js';
import { checkPeerCertificate } from '../tls/peer-certificate.js';
import type { ServerTlsMaterial } from '../tls/workload-tls.js';
import { alpnFor, isHttp2Server, isSecureHttp2Server, prefaceMatch, type AnyHttp2Server } from './h2.js';
import { setPeer } from './peer.js';

/** What the front needs from the mesh: this service's mode and the workload's current TLS material. */
export interface InboundTls {
  mode(): MtlsMode;
  /** Undefined while there is no certificate yet (TLS handshakes are refused then). */
  material(): ServerTlsMaterial | undefined;
  /** Called after a mode, certificate or trust-bundle change. */
  onChange(listener: () => void): Disposer;
}

export interface FrontStats {
  /** TLS handshakes completed and accepted. */
  accepted: number;
  /** Connections refused: failed handshake, bad certificate, or plaintext to STRICT. */
  refused: number;
  plaintext: number;
  /** Connections closed because their handshake (or first byte) did not come in time; also counted in `refused` once TLS had begun. */
  readonly timedOut: number;
  /** Connections not yet handed to HTTP: waiting for the mesh, their first byte or their handshake. */
  readonly pending: number;
}

const TLS_HANDSHAKE = 0x16;

const stats = new WeakMap<object, FrontStats>();

/** Counters of a server's mTLS front (undefined for a server without one). */
export function frontStats(server: object): FrontStats | undefined {
  return stats.get(server);
}

type Emit = (this: http.Server, event: string | symbol, ...args: unknown[]) => boolean;

/**
 * Put the front before `server`; `resolve` is awaited once (the default mesh is created lazily).
 * `handshakeTimeoutMs` (0: none) bounds each connection from accept until HTTP gets it.
 */
export function attachMtlsFront(wrapped: http.Server | AnyHttp2Server, resolve: () => Promise<InboundTls | undefined>, logger: Logger, handshakeTimeoutMs: number): MtlsFront {
  // Typed as an http.Server for what both kinds share (emit, events, closeAllConnections of an http.Server).
  const server = wrapped as http.Server;
  const deadlines = new HandshakeDeadlines(handshakeTimeoutMs);
  /** Sockets not yet handed to HTTP (sniffing or handshaking): HTTP does not know them, so close-all must. */
  const pending = new Set<Socket>();
  const counters: FrontStats = {
    accepted: 0,
    refused: 0,
    plaintext: 0,
    get timedOut() {
      return deadlines.expired;
    },
    get pending() {
      return pending.size;
    },
  };
  stats.set(server, counters);
  const next = server.emit as Emit;
  const h2 = isHttp2Server(wrapped);
  // An Http2SecureServer is a tls.Server: its 'connection' listener would start a TLS handshake of its own, and
  // its HTTP (HTTP/2 session, or HTTP/1.1 per ALPN with allowHTTP1) starts from 'secureConnection'.
  const httpEvent = h2 && isSecureHttp2Server(wrapped) ? 'secureConnection' : 'connection';
  const toHttp = (socket: Socket) => next.call(server, httpEvent, socket);
  const alpn = alpnFor(server);
  let inbound: InboundTls | undefined;
  let engine: TlsServer | undefined;
  let engineVersion = -1;
  let ready: Promise<void> | undefined;
  let settled = false;
  /** Plaintext sockets, closed when the mode becomes STRICT. */
  const plaintext = new Set<Socket>();

  const refuse = (socket: Socket, why: string) => {
    counters.refused++;
    const fields = { reason: why, peer: `${socket.remoteAddress}:${socket.remotePort}`, refused: counters.refused };
    // A warning per refusal would let a scanner flood the log: the first few, then every 100th; each one at debug.
    if (sampled(counters.refused)) logger.warn('hyphae: refused an inbound connection', fields);
    else logger.debug('hyphae: refused an inbound connection', fields);
    socket.destroy();
  };
  /** HTTP takes the socket from here: its header and request timeouts replace the handshake deadline. */
  const handOver = (socket: Socket) => {
    deadlines.settle(socket);
    pending.delete(socket);
    toHttp(socket);
  };

  const syncEngine = () => {
    const m = inbound?.material();
    if (!m) return;
    if (!engine) {
      // rejectUnauthorized is false on purpose: Node would then drop a bad certificate silently after the
      // handshake; we read its verdict (socket.authorized) in onSecure and refuse with the reason instead.
      // Node's handshakeTimeout (idle-based) is only a second net under the deadline armed at accept.
      engine = createTlsServer({
        ...m.options,
        requestCert: true,
        rejectUnauthorized: false,
        ...(handshakeTimeoutMs > 0 ? { handshakeTimeout: handshakeTimeoutMs } : {}),
        ALPNProtocols: alpn,
      });
      engine.on('secureConnection', onSecure);
      engine.on('tlsClientError', (err: NodeJS.ErrnoException, s: TLSSocket) => {
        deadlines.settle(s);
        refuse(s, `TLS handshake failed: ${err.code ?? err.message}`);
      });
    } else if (m.version !== engineVersion) {
      engine.setSecureContext(m.options);
    }
    engineVersion = m.version;
  };

  const onSecure = (socket: TLSSocket) => {
    const raw = deadlines.settle(socket);
    if (raw) pending.delete(raw);
    const cert = socket.getPeerX509Certificate();
    if (!cert) return refuse(socket, 'no client certificate');
    // OpenSSL's verdict: chain to a root of the bundle, validity dates, purpose (sslclient).
    if (!socket.authorized) return refuse(socket, `client certificate not trusted: ${String(socket.authorizationError)}`);
    const m = inbound?.material();
    if (!m) return refuse(socket, 'no workload certificate to judge the peer with');
    const check = checkPeerCertificate(cert, 'client', m.trustDomain);
    if (!check.ok) return refuse(socket, check.problem);
    counters.accepted++;
    setPeer(socket, check.identity);
    // Node's HTTP/2 server takes `socket.server` for itself (its HTTP/1.1 fallback keeps its request classes
    // there), as it is on the sockets its own TLS makes; ours came from the engine.
    if (h2) (socket as TLSSocket & { server: unknown }).server = server;
    toHttp(socket);
  };

  const onModeMaybeChanged = () => {
    syncEngine();
    if (inbound?.mode() !== 'STRICT') return;
    for (const s of plaintext) s.destroy();
    plaintext.clear();
  };

  const accept = (socket: Socket) => {
    // Cut at its deadline while the mesh was still being resolved.
    if (socket.destroyed) return;
    if (!inbound) return handOver(socket);
    const cleanup = () => {
      socket.off('data', onFirst);
      socket.off('end', onEnd);
      socket.off('error', onError);
    };
    // Half-closed before saying anything: nothing will come, and a half-open socket (as HTTP wants them) would stay.
    const onEnd = () => {
      cleanup();
      socket.destroy();
    };
    const onError = () => {
      cleanup();
      socket.destroy();
    };
    let head: Buffer | undefined;
    const onFirst = (data: Buffer) => {
      const chunk = head === undefined ? data : Buffer.concat([head, data]);
      const plainH2 = h2 && chunk[0] !== TLS_HANDSHAKE ? prefaceMatch(chunk) : undefined;
      // Too few bytes to tell h2c from HTTP/1.1 ("P" may start "POST"): wait for more, at most the preface's
      // 24 bytes; the handshake deadline bounds the wait as it bounds a silent peer's.
      if (plainH2 === 'more' && inbound!.mode() !== 'STRICT') {
        head = chunk;
        return;
      }
      cleanup();
      if (chunk[0] === TLS_HANDSHAKE) {
        syncEngine();
        if (!engine) return refuse(socket, 'no workload certificate yet');
        // The tls socket reads what is buffered on the raw one first (Node's TLSSocket does this for wrapped sockets).
        socket.pause();
        socket.unshift(chunk);
        // The TLS socket inherits this: half-open (as HTTP wants plaintext sockets), a peer's FIN in the middle of its
        // handshake would leave it waiting for the deadline. As https.Server's sockets, it ends with the peer's side.
        socket.allowHalfOpen = false;
        engine.emit('connection', socket);
        return;
      }
      if (inbound!.mode() === 'STRICT') return refuse(socket, 'plaintext connection to a STRICT (mTLS only) server');
      counters.plaintext++;
      plaintext.add(socket);
      socket.once('close', () => plaintext.delete(socket));
      if (plainH2 === 'h2c') {
        // h2c with prior knowledge: the session reads what is buffered on the socket before its handle.
        socket.pause();
        socket.unshift(chunk);
        return handOver(socket);
      }
      // Node has an HTTP/1.1 fallback for secure HTTP/2 servers only: handed to a plaintext one (http2.createServer)
      // given allowHTTP1 anyway, an HTTP/1.1 request throws in Node 24's parser, out of any handler.
      if (h2 && httpEvent === 'connection') return refuse(socket, 'HTTP/1.1 to an h2c server (http2.createServer speaks HTTP/2 only)');
      // HTTP/1.1 to an HTTP/2 secure server: Node's session code takes a socket whose ALPN said no h2 to its HTTP/1.1
      // path (allowHTTP1), or to 'unknownProtocol' (closed unless the application takes it).
      if (h2) (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol = false;
      handOver(socket);
      // HTTP's parser reads the socket's handle directly, past anything unshifted into the stream; its 'data'
      // listener (the same one that serves sockets it cannot consume) takes the first chunk instead.
      socket.emit('data', chunk);
    };
    socket.on('data', onFirst);
    socket.once('end', onEnd);
    socket.once('error', onError);
  };

  let disposeChange: Disposer | undefined;
  const ensure = (): Promise<void> =>
    (ready ??= resolve().then(
      (tls) => {
        inbound = tls;
        settled = true;
        if (tls) {
          syncEngine();
          disposeChange = tls.onChange(onModeMaybeChanged);
        }
      },
      (err: unknown) => {
        // No mesh, no identity: refuse rather than serve plaintext by mistake.
        logger.error('hyphae: mTLS is unavailable; refusing connections', { error: String(err) });
        ready = undefined;
        throw err;
      },
    ));

  const patched = server as http.Server & { emit: Emit };
  // Named parameters and `arguments` passed on as is (as wrapServer's emit): every request comes through
  // here, and a rest array plus a spread per request is work for nothing.
  patched.emit = function emit(this: http.Server, event: string | symbol, a?: unknown): boolean {
    if (event === 'connection') {
      const socket = a as Socket;
      pending.add(socket);
      socket.once('close', () => pending.delete(socket));
      deadlines.arm(socket);
      // Until the first connection nobody needs the mesh; later ones find it settled. A socket without a
      // 'data' listener buffers what arrives meanwhile.
      if (settled) accept(socket);
      else
        ensure().then(
          () => accept(socket),
          () => socket.destroy(),
        );
      return true;
    }
    if (event === 'request' && inbound?.mode() === 'STRICT') {
      // A keep-alive plaintext connection from before a switch to STRICT: its request never reaches the stack.
      const req = a as http.IncomingMessage;
      if (!(req.socket as TLSSocket).encrypted) {
        refuse(req.socket, 'plaintext request to a STRICT (mTLS only) server');
        return true;
      }
    }
    // eslint-disable-next-line prefer-rest-params
    return Reflect.apply(next, this, arguments) as boolean;
  };

  // Resolve as soon as the server listens, so the first connection rarely waits.
  server.on('listening', () => void ensure().catch(() => {}));

  const destroyPending = () => {
    for (const s of [...pending]) s.destroy();
    pending.clear();
  };
  // close-all (the drain's deadline) also ends connections HTTP has not been given yet. An HTTP/2 server has
  // no closeAllConnections: its sessions' closer (h2-sessions.ts) calls destroyPending.
  if (!h2) {
    const closeAll = server.closeAllConnections.bind(server);
    server.closeAllConnections = () => {
      destroyPending();
      closeAll();
    };
  }
  server.once('close', () => {
    disposeChange?.();
    engine?.close();
  });
  return { destroyPending };
}

export interface MtlsFront {
  /** Destroy the connections not yet handed to HTTP (sniffing or handshaking). */
  destroyPending(): void;
}
