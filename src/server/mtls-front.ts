/**
 * The mTLS front of a wrapped server. The user's http.Server still owns the
 * listening socket (so listen(), address() and close() are untouched); each
 * connection it accepts goes through the front's gate (connection-gate.ts:
 * the handshake deadline from accept, TLS sniffing, the client certificate
 * check, the mode) before HTTP sees it, by way of the server's own emit.
 *
 * On a switch to STRICT, a plaintext request still arriving on a keep-alive
 * connection from before is dropped before the stack.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../core/logger.js';
import { ConnectionGate, type FrontStats, type InboundTls, type PlaintextKind } from './connection-gate.js';
import { alpnFor, isHttp2Server, isSecureHttp2Server, type AnyHttp2Server } from './h2.js';

export type { FrontStats, InboundTls } from './connection-gate.js';

const stats = new WeakMap<object, FrontStats>();

/** Counters of a listener's mTLS front (undefined for one without): a wrapped server, or a grpc-js server joined with serveGrpc. */
export function frontStats(server: object): FrontStats | undefined {
  return stats.get(server);
}

/** Counters of `gate` under `key`, for frontStats (another listener built on a ConnectionGate). */
export function trackFrontStats(key: object, gate: ConnectionGate): void {
  stats.set(key, gate.stats);
}

type Emit = (this: http.Server, event: string | symbol, ...args: unknown[]) => boolean;

/**
 * Put the front before `server`; `resolve` is awaited once (the default mesh is created lazily).
 * `handshakeTimeoutMs` (0: none) bounds each connection from accept until HTTP gets it.
 */
export function attachMtlsFront(wrapped: http.Server | AnyHttp2Server, resolve: () => Promise<InboundTls | undefined>, logger: Logger, handshakeTimeoutMs: number): MtlsFront {
  // Typed as an http.Server for what both kinds share (emit, events, closeAllConnections of an http.Server).
  const server = wrapped as http.Server;
  const next = server.emit as Emit;
  const h2 = isHttp2Server(wrapped);
  const secureH2 = h2 && isSecureHttp2Server(wrapped);
  // An Http2SecureServer is a tls.Server: its 'connection' listener would start a TLS handshake of its own, and
  // its HTTP (HTTP/2 session, or HTTP/1.1 per ALPN with allowHTTP1) starts from 'secureConnection'.
  const httpEvent = secureH2 ? 'secureConnection' : 'connection';
  // Node has an HTTP/1.1 fallback for secure HTTP/2 servers only: handed to a plaintext one (http2.createServer)
  // given allowHTTP1 anyway, an HTTP/1.1 request throws in Node 24's parser, out of any handler.
  const plaintext: PlaintextKind = !h2 ? 'http1' : secureH2 ? 'h2c-or-http1' : 'h2c';
  const gate = new ConnectionGate({
    resolve,
    logger,
    handshakeTimeoutMs,
    alpn: alpnFor(server),
    plaintext,
    deliver: (socket, secure) => {
      // Node's HTTP/2 server takes `socket.server` for itself (its HTTP/1.1 fallback keeps its request classes
      // there), as it is on the sockets its own TLS makes; ours came from the gate's engine.
      if (secure && h2) (socket as TLSSocket & { server: unknown }).server = server;
      next.call(server, httpEvent, socket);
    },
  });
  trackFrontStats(server, gate);

  const patched = server as http.Server & { emit: Emit };
  // Named parameters and `arguments` passed on as is (as wrapServer's emit): every request comes through
  // here, and a rest array plus a spread per request is work for nothing.
  patched.emit = function emit(this: http.Server, event: string | symbol, a?: unknown): boolean {
    if (event === 'connection') {
      gate.accept(a as Socket);
      return true;
    }
    if (event === 'request' && gate.strict()) {
      // A keep-alive plaintext connection from before a switch to STRICT: its request never reaches the stack.
      const req = a as http.IncomingMessage;
      if (!(req.socket as TLSSocket).encrypted) {
        gate.refuse(req.socket, 'plaintext request to a STRICT (mTLS only) server');
        return true;
      }
    }
    // eslint-disable-next-line prefer-rest-params
    return Reflect.apply(next, this, arguments) as boolean;
  };

  // Resolve as soon as the server listens, so the first connection rarely waits.
  server.on('listening', () => gate.prepare());

  // close-all (the drain's deadline) also ends connections HTTP has not been given yet. An HTTP/2 server has
  // no closeAllConnections: its sessions' closer (h2-sessions.ts) calls destroyPending.
  if (!h2) {
    const closeAll = server.closeAllConnections.bind(server);
    server.closeAllConnections = () => {
      gate.destroyPending();
      closeAll();
    };
  }
  server.once('close', () => gate.close());
  return { destroyPending: () => gate.destroyPending() };
}

export interface MtlsFront {
  /** Destroy the connections not yet handed to HTTP (sniffing or handshaking). */
  destroyPending(): void;
}
