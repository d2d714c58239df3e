/**
 * What every listener hyphae opens (the control plane's API, a wrapped server
 * and its mTLS front) does against peers that hold a connection without ever
 * finishing anything, so that descriptors return to their baseline as soon
 * as such peers are cut or leave:
 *
 * - a TLS handshake deadline counted from accept, covering also the wait
 *   before the handshake starts (the mesh, the first byte): Node's own
 *   `handshakeTimeout` starts with the TLS socket (a dribbled ClientHello does
 *   not reset it: measured on Node 20 and 24, cut at 1003 ms of 1000), but
 *   when it fires it only emits `tlsClientError`; with a listener for that
 *   event the socket stays open until the peer leaves, and a peer that
 *   half-closes after that leaves it in CLOSE-WAIT for ever;
 * - `destroy()` after an error answer: HTTP sockets are half-open
 *   (`allowHalfOpen`), so `end()` alone leaves the socket to a peer that
 *   never closes its side;
 * - header and request timeouts, checked often enough to mean what they say
 *   (Node checks every 30 s by default, so a 10 s timeout fired at 10..40 s).
 *   They also cut a peer that connects, or finishes its TLS handshake, and
 *   says nothing: Node times a connection's first request from the moment
 *   HTTP gets the socket, not from its first byte, so no deadline of ours is
 *   needed for it (docs/architecture.md, "Listeners");
 * - a cap on concurrent connections (net.Server's `maxConnections`: a socket
 *   over it is closed in C++ before any JavaScript object exists), with one
 *   log line when it is reached and one when it clears.
 */
import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';

export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 5_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** The cap when the open-file limit allows it (a few thousand: watchers of a large mesh fit, an fd exhaustion does not). */
export const DEFAULT_MAX_CONNECTIONS = 4_096;
/** Node's own defaults: a server still carrying them was not tuned by its owner, so wrapServer may apply the mesh's. */
export const NODE_DEFAULT_HEADERS_TIMEOUT_MS = 60_000;
export const NODE_DEFAULT_REQUEST_TIMEOUT_MS = 300_000;

export interface ListenerLimits {
  /** From accept to the end of the TLS handshake (for the mTLS front: also the wait for the first byte). */
  tlsHandshakeTimeoutMs: number;
  /** From the first byte of a request to the end of its headers; 408 and close after it. */
  headersTimeoutMs: number;
  /** From the first byte of a request to the end of its body; 408 and close after it. */
  requestTimeoutMs: number;
  /** Connections open at once; more are closed at accept. */
  maxConnections: number;
  /** A connection with bytes to send, none of which went out for this long, is destroyed (core/send-stall.ts). */
  sendTimeoutMs: number;
}

export type ListenerLog = (level: 'warn' | 'info', message: string, fields: Record<string, unknown>) => void;

/**
 * Descriptors a process needs besides its inbound connections (files, the store, outgoing pools, stdio):
 * the default cap stays this far below the open-file limit, so a full cap never starves them.
 */
function fdReserve(limit: number): number {
  return Math.max(64, Math.ceil(limit / 10));
}

let derivedDefault: number | undefined;

/**
 * DEFAULT_MAX_CONNECTIONS, lowered below the process's open-file limit (Linux: /proc/self/limits; Node
 * raises the soft limit to the hard one at start). Elsewhere, or when unreadable: DEFAULT_MAX_CONNECTIONS.
 */
export function defaultMaxConnections(): number {
  return (derivedDefault ??= maxConnectionsFor(openFileLimit()));
}

export function maxConnectionsFor(openFiles: number | undefined): number {
  if (openFiles === undefined) return DEFAULT_MAX_CONNECTIONS;
  return Math.max(16, Math.min(DEFAULT_MAX_CONNECTIONS, openFiles - fdReserve(openFiles)));
}

/** The soft RLIMIT_NOFILE, or undefined when it cannot be read or is unlimited. */
export function openFileLimit(limitsFile = '/proc/self/limits'): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(readFileSync(limitsFile, 'utf8'));
    const n = m ? Number(m[1]) : NaN;
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The interval at which Node looks for expired requests: a tenth of the shorter timeout, 25 ms .. 1 s. */
export function checkingIntervalMs(headersTimeoutMs: number, requestTimeoutMs: number): number {
  const shortest = Math.min(...[headersTimeoutMs, requestTimeoutMs].filter((t) => t > 0));
  return Number.isFinite(shortest) ? Math.max(25, Math.min(1_000, Math.floor(shortest / 10))) : 1_000;
}

/**
 * Header and request timeouts on an http.Server. The checking interval is read by Node when the server
 * starts listening, so it takes effect from the next listen() if the server already listens.
 */
export function applyHttpTimeouts(server: HttpServer, headersTimeoutMs: number, requestTimeoutMs: number): void {
  server.headersTimeout = headersTimeoutMs;
  server.requestTimeout = requestTimeoutMs;
  (server as HttpServer & { connectionsCheckingInterval: number }).connectionsCheckingInterval = checkingIntervalMs(headersTimeoutMs, requestTimeoutMs);
}

/** Bounds the wait for a socket's last bytes once it is told to go: a peer that reads nothing cannot hold it. */
const FLUSH_BEFORE_DESTROY_MS = 1_000;

/**
 * Answer with `bytes` (if the socket can still take them) and destroy the socket once they are flushed,
 * or after FLUSH_BEFORE_DESTROY_MS whatever the peer does.
 */
export function closeWith(socket: Socket, bytes?: string): void {
  if (socket.destroyed) return;
  if (bytes === undefined || !socket.writable) {
    socket.destroy();
    return;
  }
  const timer = setTimeout(() => socket.destroy(), FLUSH_BEFORE_DESTROY_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end(bytes, () => socket.destroy());
}

export interface CapStats {
  readonly max: number;
  /** Connections closed at accept because the cap was reached (since start). */
  refused: number;
  /** Whether the cap is in force now (reached, and not yet cleared). */
  reached: boolean;
}

/** The "reached" line at most this often; the cap reached again sooner is counted and told with the next one. */
const REACHED_LOG_INTERVAL_MS = 60_000;
/** While at the cap, how often the count is checked for the "cleared" line. */
const CLEAR_CHECK_MS = 1_000;

/**
 * Close connections over `max` at accept (Node's net.Server.maxConnections, reported by its 'drop' event),
 * log once when the cap is reached and once when it clears (no refusal for a whole check interval and
 * fewer connections than the cap).
 */
export function capConnections(server: NetServer, max: number, log: ListenerLog, setting: string): CapStats {
  const stats: CapStats = { max, refused: 0, reached: false };
  server.maxConnections = max;
  let reachedAt = 0;
  let refusedAtReach = 0;
  let lastDropAt = 0;
  let loggedAt = -Infinity;
  let logged = false;
  let unlogged = 0;
  let timer: NodeJS.Timeout | undefined;

  const check = () => {
    if (Date.now() - lastDropAt < CLEAR_CHECK_MS) return;
    server.getConnections((err, open) => {
      if (err || open >= max || !stats.reached) return;
      stats.reached = false;
      clearInterval(timer);
      timer = undefined;
      if (logged) {
        log('info', `connection cap cleared: ${open} connections open, below ${max}`, {
          open,
          max,
          refused: stats.refused - refusedAtReach,
          seconds: Math.round((Date.now() - reachedAt) / 100) / 10,
        });
      }
    });
  };

  server.on('drop', () => {
    stats.refused++;
    lastDropAt = Date.now();
    if (stats.reached) return;
    stats.reached = true;
    reachedAt = lastDropAt;
    refusedAtReach = stats.refused - 1;
    timer = setInterval(check, CLEAR_CHECK_MS);
    timer.unref();
    logged = reachedAt - loggedAt >= REACHED_LOG_INTERVAL_MS;
    if (!logged) {
      unlogged++;
      return;
    }
    loggedAt = reachedAt;
    const fields: Record<string, unknown> = { max, setting };
    if (unlogged > 0) fields.reachedUnlogged = unlogged;
    unlogged = 0;
    log('warn', `connection cap reached: ${max} connections open; new connections are closed at accept until some close (${setting})`, fields);
  });
  server.once('close', () => clearInterval(timer));
  return stats;
}

/** What a handshake deadline destroys a socket with (the code Node uses for its own handshake timeout). */
export function handshakeTimeoutError(timeoutMs: number): Error {
  return Object.assign(new Error(`TLS handshake not finished ${timeoutMs} ms after accept`), { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' });
}

const noop = () => {};

/**
 * One deadline per accepted socket, from accept until `settle` (handshake done, or the socket turned out
 * to be plaintext): at the deadline the raw socket is destroyed, and with it any TLS socket wrapping it.
 * A TLS socket is matched to its raw socket by peer address and port (unique among a listener's open
 * connections), so `settle` takes either. With a timeout of 0 sockets are tracked without a deadline.
 */
export class HandshakeDeadlines {
  readonly timeoutMs: number;
  /** Sockets destroyed at their deadline (since start). */
  expired = 0;
  #bySocket = new Map<Socket, NodeJS.Timeout | undefined>();
  #byPeer = new Map<string, Socket>();

  constructor(timeoutMs: number) {
    this.timeoutMs = timeoutMs;
  }

  get pending(): number {
    return this.#bySocket.size;
  }

  arm(raw: Socket): void {
    if (this.#bySocket.has(raw) || raw.destroyed) return;
    const key = peerKey(raw);
    const timer =
      this.timeoutMs > 0
        ? setTimeout(() => {
            this.#forget(raw, key);
            this.expired++;
            // The raw socket may have no 'error' listener of its own yet (nothing read from it so far).
            if (raw.listenerCount('error') === 0) raw.once('error', noop);
            raw.destroy(handshakeTimeoutError(this.timeoutMs));
          }, this.timeoutMs).unref()
        : undefined;
    this.#bySocket.set(raw, timer);
    if (key !== undefined) this.#byPeer.set(key, raw);
    raw.once('close', () => this.#forget(raw, key));
  }

  /** Ends the deadline of `socket` (the raw socket or a TLS socket over it); returns the raw socket, if it was armed. */
  settle(socket: Socket): Socket | undefined {
    const key = peerKey(socket);
    const raw = this.#bySocket.has(socket) ? socket : key === undefined ? undefined : this.#byPeer.get(key);
    if (raw) this.#forget(raw, peerKey(raw));
    return raw;
  }

  /** Destroy every socket still waiting (a server's close-all). */
  destroyAll(): void {
    for (const raw of [...this.#bySocket.keys()]) {
      this.#forget(raw, peerKey(raw));
      raw.destroy();
    }
  }

  #forget(raw: Socket, key: string | undefined): void {
    if (!this.#bySocket.has(raw)) return;
    clearTimeout(this.#bySocket.get(raw));
    this.#bySocket.delete(raw);
    if (key !== undefined && this.#byPeer.get(key) === raw) this.#byPeer.delete(key);
  }
}

function peerKey(socket: Socket): string | undefined {
  const { remoteAddress, remotePort } = socket;
  return remoteAddress === undefined || remotePort === undefined ? undefined : `${remoteAddress}|${remotePort}`;
}

/**
 * A log for refusals a peer can cause at will (failed handshakes, bad certificates): the first few,
 * then every hundredth, so a scanner cannot flood it. Returns whether this one is worth a line.
 */
export function sampled(count: number): boolean {
  return count <= 5 || count % 100 === 0;
}
