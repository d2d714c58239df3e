/**
 * What the mTLS front does with each connection a listener accepts, before
 * any HTTP: it is held until its first byte says what it is, then
 *
 *   0x16 (a TLS handshake record): handed to an internal tls.Server that
 *     never listens. It asks for a client certificate; OpenSSL's verdict must
 *     be "authorized" (chain to the trust bundle, dates, clientAuth purpose),
 *     then checkPeerCertificate() requires exactly one workload URI SAN, no
 *     CA, clientAuth. Only a socket that passes is delivered, with its peer
 *     recorded (setPeer). Refusals happen before any HTTP.
 *   anything else (plaintext): closed in STRICT mode; delivered in PERMISSIVE
 *     and DISABLE mode (DISABLE still accepts TLS, so that a switch between
 *     modes never breaks a client that has not heard of it yet), if it is
 *     what the listener speaks in plaintext (`plaintext`).
 *
 * Every connection has one deadline from accept to the end of its handshake
 * (or to its first bytes, for plaintext): the wait for the mesh, for the first
 * byte and for the handshake all count (core/listener-guard.ts). A peer that
 * half-closes before its first byte is closed at once.
 *
 * The mode is read per connection, so a PeerAuthentication change applies at
 * once; on a switch to STRICT, plaintext connections are closed. A new
 * certificate or trust bundle is swapped into the tls.Server's context;
 * connections already open carry on with theirs.
 *
 * Two listeners use it: a wrapped server's (mtls-front.ts, on the user's
 * http.Server) and serveGrpc's (grpc/listener.ts, on a net.Server of ours
 * whose sockets go to grpc-js).
 */
import type { Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Disposer } from '../core/events.js';
import { HandshakeDeadlines, sampled } from '../core/listener-guard.js';
import type { Logger } from '../core/logger.js';
import type { MtlsMode } from '../config/resources.js';
import { checkPeerCertificate } from '../tls/peer-certificate.js';
import type { ServerTlsMaterial } from '../tls/workload-tls.js';
import { prefaceMatch } from './h2.js';
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
  /** Connections not yet delivered: waiting for the mesh, their first byte or their handshake. */
  readonly pending: number;
}

/**
 * What a listener speaks in plaintext: HTTP/1.1 (an http.Server), h2c with prior knowledge only
 * (http2.createServer, grpc-js), or either (an http2.createSecureServer with its HTTP/1.1 fallback).
 */
export type PlaintextKind = 'http1' | 'h2c' | 'h2c-or-http1';

export interface GateOptions {
  /** Awaited once, at the first connection or at prepare() (the default mesh is created lazily); undefined: no front, every socket delivered as it comes. */
  resolve: () => Promise<InboundTls | undefined>;
  logger: Logger;
  /** From accept to delivery; 0: no deadline. */
  handshakeTimeoutMs: number;
  /** The protocols offered in the TLS handshake. */
  alpn: string[];
  plaintext: PlaintextKind;
  /** Takes a socket that passed; `secure`: a TLS socket whose peer was verified. */
  deliver(socket: Socket, secure: boolean): void;
}

const TLS_HANDSHAKE = 0x16;

export class ConnectionGate {
  readonly stats: FrontStats;
  #o: GateOptions;
  #deadlines: HandshakeDeadlines;
  /** Sockets not yet delivered (sniffing or handshaking): nothing else knows them, so a close-all must ask here. */
  #pending = new Set<Socket>();
  /** Plaintext sockets, closed when the mode becomes STRICT. */
  #plaintext = new Set<Socket>();
  #inbound: InboundTls | undefined;
  #engine: TlsServer | undefined;
  #engineVersion = -1;
  #ready: Promise<void> | undefined;
  #settled = false;
  #disposeChange: Disposer | undefined;

  constructor(options: GateOptions) {
    this.#o = options;
    const deadlines = (this.#deadlines = new HandshakeDeadlines(options.handshakeTimeoutMs));
    const pending = this.#pending;
    this.stats = {
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
  }

  /** Resolve the mesh now (a listener calls it once it listens, so that the first connection rarely waits). */
  prepare(): void {
    void this.#ensure().catch(() => {});
  }

  /** A connection the listener accepted. */
  accept(socket: Socket): void {
    this.#pending.add(socket);
    socket.once('close', () => this.#pending.delete(socket));
    this.#deadlines.arm(socket);
    // Until the first connection nobody needs the mesh; later ones find it settled. A socket without a
    // 'data' listener buffers what arrives meanwhile.
    if (this.#settled) this.#sniff(socket);
    else
      this.#ensure().then(
        () => this.#sniff(socket),
        () => socket.destroy(),
      );
  }

  /** Whether the mesh says STRICT now (undefined until it is known). */
  strict(): boolean {
    return this.#inbound?.mode() === 'STRICT';
  }

  /** Refuse (destroy) a socket, counted and logged as the front's own refusals are. */
  refuse(socket: Socket, why: string): void {
    this.stats.refused++;
    const fields = { reason: why, peer: `${socket.remoteAddress}:${socket.remotePort}`, refused: this.stats.refused };
    // A warning per refusal would let a scanner flood the log: the first few, then every 100th; each one at debug.
    if (sampled(this.stats.refused)) this.#o.logger.warn('hyphae: refused an inbound connection', fields);
    else this.#o.logger.debug('hyphae: refused an inbound connection', fields);
    socket.destroy();
  }

  /** Destroy the connections not yet delivered (sniffing or handshaking). */
  destroyPending(): void {
    for (const s of [...this.#pending]) s.destroy();
    this.#pending.clear();
  }

  /** The listener closed: stop following the mesh's changes and let the TLS engine go. */
  close(): void {
    this.#disposeChange?.();
    this.#disposeChange = undefined;
    this.#engine?.close();
  }

  /** The socket goes on: the deadline ends here (HTTP's own timeouts, or the application's, take over). */
  #handOver(socket: Socket): void {
    this.#deadlines.settle(socket);
    this.#pending.delete(socket);
    this.#o.deliver(socket, false);
  }

  #ensure(): Promise<void> {
    return (this.#ready ??= this.#o.resolve().then(
      (tls) => {
        this.#inbound = tls;
        this.#settled = true;
        if (tls) {
          this.#syncEngine();
          this.#disposeChange = tls.onChange(() => this.#onModeMaybeChanged());
        }
      },
      (err: unknown) => {
        // No mesh, no identity: refuse rather than serve plaintext by mistake.
        this.#o.logger.error('hyphae: mTLS is unavailable; refusing connections', { error: String(err) });
        this.#ready = undefined;
        throw err;
      },
    ));
  }

  #syncEngine(): void {
    const m = this.#inbound?.material();
    if (!m) return;
    if (!this.#engine) {
      const timeoutMs = this.#o.handshakeTimeoutMs;
      // rejectUnauthorized is false on purpose: Node would then drop a bad certificate silently after the
      // handshake; we read its verdict (socket.authorized) in #onSecure and refuse with the reason instead.
      // Node's handshakeTimeout (from the handshake's start, reported only) is a second net under the deadline armed at accept.
      const engine = createTlsServer({
        ...m.options,
        requestCert: true,
        rejectUnauthorized: false,
        ...(timeoutMs > 0 ? { handshakeTimeout: timeoutMs } : {}),
        ALPNProtocols: this.#o.alpn,
      });
      engine.on('secureConnection', (socket: TLSSocket) => this.#onSecure(socket));
      engine.on('tlsClientError', (err: NodeJS.ErrnoException, s: TLSSocket) => {
        this.#deadlines.settle(s);
        this.refuse(s, `TLS handshake failed: ${err.code ?? err.message}`);
      });
      this.#engine = engine;
    } else if (m.version !== this.#engineVersion) {
      this.#engine.setSecureContext(m.options);
    }
    this.#engineVersion = m.version;
  }

  #onSecure(socket: TLSSocket): void {
    const raw = this.#deadlines.settle(socket);
    if (raw) this.#pending.delete(raw);
    const cert = socket.getPeerX509Certificate();
    if (!cert) return this.refuse(socket, 'no client certificate');
    // OpenSSL's verdict: chain to a root of the bundle, validity dates, purpose (sslclient).
    if (!socket.authorized) return this.refuse(socket, `client certificate not trusted: ${String(socket.authorizationError)}`);
    const m = this.#inbound?.material();
    if (!m) return this.refuse(socket, 'no workload certificate to judge the peer with');
    const check = checkPeerCertificate(cert, 'client', m.trustDomain);
    if (!check.ok) return this.refuse(socket, check.problem);
    this.stats.accepted++;
    setPeer(socket, check.identity);
    this.#o.deliver(socket, true);
  }

  #onModeMaybeChanged(): void {
    this.#syncEngine();
    if (!this.strict()) return;
    for (const s of this.#plaintext) s.destroy();
    this.#plaintext.clear();
  }

  /** Wait for the first bytes and send the socket their way. */
  #sniff(socket: Socket): void {
    // Cut at its deadline while the mesh was still being resolved.
    if (socket.destroyed) return;
    const inbound = this.#inbound;
    if (!inbound) return this.#handOver(socket);
    const kind = this.#o.plaintext;
    const cleanup = () => {
      socket.off('data', onFirst);
      socket.off('end', onGone);
      socket.off('error', onGone);
    };
    // Half-closed before saying anything: nothing will come, and a half-open socket (as HTTP wants them) would
    // stay. An error: nothing to deliver either.
    const onGone = () => {
      cleanup();
      socket.destroy();
    };
    let head: Buffer | undefined;
    const onFirst = (data: Buffer) => {
      const chunk = head === undefined ? data : Buffer.concat([head, data]);
      const plainH2 = kind !== 'http1' && chunk[0] !== TLS_HANDSHAKE ? prefaceMatch(chunk) : undefined;
      // Too few bytes to tell h2c from HTTP/1.1 ("P" may start "POST"): wait for more, at most the preface's
      // 24 bytes; the handshake deadline bounds the wait as it bounds a silent peer's.
      if (plainH2 === 'more' && inbound.mode() !== 'STRICT') {
        head = chunk;
        return;
      }
      cleanup();
      if (chunk[0] === TLS_HANDSHAKE) return this.#startTls(socket, chunk);
      if (inbound.mode() === 'STRICT') return this.refuse(socket, 'plaintext connection to a STRICT (mTLS only) server');
      this.#plainFrom(socket, chunk, plainH2 === 'h2c');
    };
    socket.on('data', onFirst);
    socket.once('end', onGone);
    socket.once('error', onGone);
  }

  #startTls(socket: Socket, chunk: Buffer): void {
    this.#syncEngine();
    if (!this.#engine) return this.refuse(socket, 'TLS to a listener with no workload certificate (none yet, or no mTLS here)');
    // The tls socket reads what is buffered on the raw one first (Node's TLSSocket does this for wrapped sockets).
    socket.pause();
    socket.unshift(chunk);
    // The TLS socket inherits this: half-open (as HTTP wants plaintext sockets), a peer's FIN in the middle of its
    // handshake would leave it waiting for the deadline. As https.Server's sockets, it ends with the peer's side.
    socket.allowHalfOpen = false;
    this.#engine.emit('connection', socket);
  }

  /** `h2c`: the chunk holds the whole HTTP/2 preface. */
  #plainFrom(socket: Socket, chunk: Buffer, h2c: boolean): void {
    const kind = this.#o.plaintext;
    if (kind === 'h2c' && !h2c) return this.refuse(socket, 'not HTTP/2 with prior knowledge (h2c) to a listener that speaks only that in plaintext');
    this.stats.plaintext++;
    this.#plaintext.add(socket);
    socket.once('close', () => this.#plaintext.delete(socket));
    if (h2c) {
      // h2c with prior knowledge: the session reads what is buffered on the socket before its handle.
      socket.pause();
      socket.unshift(chunk);
      return this.#handOver(socket);
    }
    // HTTP/1.1 to an HTTP/2 secure server: Node's session code takes a socket whose ALPN said no h2 to its HTTP/1.1
    // path (allowHTTP1), or to 'unknownProtocol' (closed unless the application takes it).
    if (kind === 'h2c-or-http1') (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol = false;
    this.#handOver(socket);
    // HTTP's parser reads the socket's handle directly, past anything unshifted into the stream; its 'data'
    // listener (the same one that serves sockets it cannot consume) takes the first chunk instead.
    socket.emit('data', chunk);
  }
}
