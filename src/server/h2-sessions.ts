/**
 * The sessions of a wrapped HTTP/2 server: what an http.Server's header and
 * request timeouts, closeIdleConnections and closeAllConnections do for
 * HTTP/1.1, done for HTTP/2 sessions and streams (issue 18).
 *
 *   - a session that opens no stream within `headersTimeoutMs` of its start
 *     (a peer that connects, maybe finishes TLS and its preface, then says
 *     nothing) is destroyed: Node times a connection's first request the same
 *     way for HTTP/1.1;
 *   - a stream whose request (headers and body) is not in `requestTimeoutMs`
 *     after it opened is answered 408 if nothing was sent yet, then reset;
 *   - a session with no stream open for `idleTimeoutMs` (the server's
 *     keep-alive timeout) is asked to go (GOAWAY);
 *   - the header list is limited to HTTP/1.1's `maxHeaderSize` (16 KiB), unless
 *     the server was created with its own `maxHeaderListSize` (nghttp2's is 64 KiB);
 *   - `maxConcurrentStreams`, unless the server was created with its own,
 *     is advertised in SETTINGS: a peer that opens more once it has
 *     acknowledged them has its session ended by nghttp2 (GOAWAY with
 *     PROTOCOL_ERROR, INTERNAL_ERROR on Node 20). Node's default is 2^32-1;
 *   - drain (DrainConnections): closeIdle sends every session GOAWAY (its
 *     streams in flight finish, no new one starts, then it closes), and
 *     closes idle HTTP/1.1 connections of an allowHTTP1 server; closeAll
 *     destroys every session and socket still open.
 *
 * One sweep timer per server (as Node's connectionsCheckingInterval), no
 * timer per stream.
 */
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { checkingIntervalMs } from '../core/listener-guard.js';
import type { DrainConnections } from './drain.js';
import { createdWith, isSecureHttp2Server, type AnyHttp2Server } from './h2.js';

export const DEFAULT_MAX_CONCURRENT_STREAMS = 100;

export interface H2Limits {
  /** 0: none. */
  headersTimeoutMs: number;
  /** 0: none. */
  requestTimeoutMs: number;
  /** 0: none. */
  idleTimeoutMs: number;
  /** Undefined: the server's own setting, else DEFAULT_MAX_CONCURRENT_STREAMS. */
  maxConcurrentStreams: number | undefined;
}

interface SessionState {
  started: number;
  open: number;
  /** When the last stream closed; -1 before the first stream. */
  idleSince: number;
}

export interface H2SessionStats {
  readonly sessions: number;
  /** Sessions destroyed because no stream came in time. */
  silentCut: number;
  /** Streams answered 408 / reset because their request did not come in time. */
  streamsTimedOut: number;
  /** Sessions told GOAWAY after being idle for idleTimeoutMs. */
  idleClosed: number;
}

export class H2Sessions implements DrainConnections {
  readonly stats: H2SessionStats;
  #server: AnyHttp2Server;
  #limits: H2Limits;
  #sessions = new Map<ServerHttp2Session, SessionState>();
  /** Streams whose request has not fully arrived, with when they opened. */
  #receiving = new Map<ServerHttp2Stream, number>();
  /** Every socket handed to HTTP (sessions' and an allowHTTP1 server's HTTP/1.1 ones). */
  #sockets = new Set<Socket>();
  #timer: NodeJS.Timeout | undefined;
  /** Connections not yet handed to HTTP (the mTLS front's), cut with the rest by closeAll. */
  destroyPending: (() => void) | undefined = undefined;

  constructor(server: AnyHttp2Server, limits: H2Limits) {
    this.#server = server;
    this.#limits = limits;
    const sessions = this.#sessions;
    this.stats = {
      get sessions() {
        return sessions.size;
      },
      silentCut: 0,
      streamsTimedOut: 0,
      idleClosed: 0,
    };
    const own = createdWith(server).settings ?? {};
    server.updateSettings({
      ...(limits.maxConcurrentStreams !== undefined || own.maxConcurrentStreams === undefined ? { maxConcurrentStreams: limits.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS } : {}),
      // The header limit of HTTP/1.1 (Node's maxHeaderSize, 16 KiB unless the process says otherwise), where
      // nghttp2 would take 64 KiB: a header block over it has its stream reset (ENHANCE_YOUR_CALM) before any handler.
      ...(own.maxHeaderListSize === undefined ? { maxHeaderListSize: http.maxHeaderSize } : {}),
    });
    server.on('session', (session: ServerHttp2Session) => this.#track(session));
    server.on(isSecureHttp2Server(server) ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    const start = () => {
      if (this.#timer) return;
      const { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs } = limits;
      if (headersTimeoutMs === 0 && requestTimeoutMs === 0 && idleTimeoutMs === 0) return;
      this.#timer = setInterval(() => this.#sweep(), checkingIntervalMs(headersTimeoutMs, requestTimeoutMs || idleTimeoutMs)).unref();
    };
    if (server.listening) start();
    server.on('listening', start);
    server.on('close', () => {
      clearInterval(this.#timer);
      this.#timer = undefined;
    });
  }

  closeIdle(): void {
    for (const session of this.#sessions.keys()) session.close();
    // An allowHTTP1 server tracks its HTTP/1.1 connections as an http.Server does (Node 20 and later).
    const h1 = this.#server as { closeIdleConnections?: () => void };
    if (typeof h1.closeIdleConnections === 'function') h1.closeIdleConnections();
  }

  closeAll(): void {
    this.destroyPending?.();
    for (const session of [...this.#sessions.keys()]) session.destroy();
    for (const socket of [...this.#sockets]) socket.destroy();
  }

  #track(session: ServerHttp2Session): void {
    const state: SessionState = { started: performance.now(), open: 0, idleSince: -1 };
    this.#sessions.set(session, state);
    session.once('close', () => this.#sessions.delete(session));
    session.on('stream', (stream: ServerHttp2Stream) => {
      state.open++;
      if (!stream.endAfterHeaders) this.#receiving.set(stream, performance.now());
      stream.once('close', () => {
        this.#receiving.delete(stream);
        if (--state.open === 0) state.idleSince = performance.now();
      });
    });
  }

  #sweep(): void {
    const now = performance.now();
    const { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs } = this.#limits;
    for (const [session, s] of this.#sessions) {
      if (s.open > 0 || session.closed || session.destroyed) continue;
      if (s.idleSince < 0) {
        if (headersTimeoutMs > 0 && now - s.started >= headersTimeoutMs) {
          this.stats.silentCut++;
          session.destroy();
        }
      } else if (idleTimeoutMs > 0 && now - s.idleSince >= idleTimeoutMs) {
        this.stats.idleClosed++;
        session.close();
      }
    }
    if (requestTimeoutMs === 0) return;
    for (const [stream, opened] of this.#receiving) {
      if (stream.destroyed || stream.state.remoteClose) {
        this.#receiving.delete(stream);
        continue;
      }
      if (now - opened < requestTimeoutMs) continue;
      this.#receiving.delete(stream);
      this.stats.streamsTimedOut++;
      if (!stream.headersSent) stream.respond({ ':status': 408, 'content-length': '0' }, { endStream: true });
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
  }
}
