/**
 * The listener limits of a wrapped server (core/listener-guard.ts): from
 * wrapServer's options, else the mesh's `server` options, else the defaults.
 * The server is the user's: header and request timeouts it was created with
 * (anything but Node's defaults) are kept unless an option says otherwise, so
 * a service that accepts slow uploads on purpose keeps doing so.
 */
import type http from 'node:http';
import type net from 'node:net';
import type { Logger } from '../core/logger.js';
import { DEFAULT_SEND_TIMEOUT_MS, limitSendStalls } from '../core/send-stall.js';
import {
  applyHttpTimeouts,
  capConnections,
  DEFAULT_HEADERS_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
  defaultMaxConnections,
  NODE_DEFAULT_HEADERS_TIMEOUT_MS,
  NODE_DEFAULT_REQUEST_TIMEOUT_MS,
  type CapStats,
  type ListenerLimits,
} from '../core/listener-guard.js';

/** Node's own keepAliveTimeout: a server still carrying it was not tuned by its owner. */
export const NODE_DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 5_000;

/**
 * How long a wrapped server keeps an idle keep-alive connection open. Its `Keep-Alive: timeout=` hint is what
 * a mesh client's undici pool goes by (it lets the connection go 2 s before), so this is also how long callers
 * keep their connections to it between bursts. With Node's 5 s, a caller idle for 3 s re-made every
 * connection, and a mesh connection is an mTLS handshake: an RSA signature on each side, 1-2 ms of CPU,
 * where the request it carries costs ~0.1 ms (bench:edges, docs/benchmarks.md "Edges"). 75 s is nginx's
 * keepalive_timeout and the gateway's `edge.timeouts.idle`; Envoy keeps idle connections for an hour.
 */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 75_000;

/** Each one: 0 turns it off; absent takes the next level's. */
export type ListenerLimitOptions = Partial<ListenerLimits>;

export const LISTENER_LIMIT_OPTIONS = ['maxConnections', 'tlsHandshakeTimeoutMs', 'headersTimeoutMs', 'requestTimeoutMs', 'sendTimeoutMs'] as const;

export function resolveListenerLimits(server: http.Server, options: ListenerLimitOptions, mesh: ListenerLimitOptions): ListenerLimits {
  const pick = (key: keyof ListenerLimits): number | undefined => options[key] ?? mesh[key];
  // An HTTP/2 server has no header or request timeout of its own (undefined): the mesh's apply to its streams.
  const headersTimeout = (server.headersTimeout as number | undefined) ?? NODE_DEFAULT_HEADERS_TIMEOUT_MS;
  const requestTimeout = (server.requestTimeout as number | undefined) ?? NODE_DEFAULT_REQUEST_TIMEOUT_MS;
  return {
    ...resolveConnectionLimits(options, mesh, server.maxConnections),
    headersTimeoutMs: pick('headersTimeoutMs') ?? (headersTimeout === NODE_DEFAULT_HEADERS_TIMEOUT_MS ? DEFAULT_HEADERS_TIMEOUT_MS : headersTimeout),
    requestTimeoutMs: pick('requestTimeoutMs') ?? (requestTimeout === NODE_DEFAULT_REQUEST_TIMEOUT_MS ? DEFAULT_REQUEST_TIMEOUT_MS : requestTimeout),
    sendTimeoutMs: pick('sendTimeoutMs') ?? DEFAULT_SEND_TIMEOUT_MS,
  };
}

/** The limits of a connection, whatever speaks over it (serveGrpc's listener has only these): the cap and the handshake deadline. */
export type ConnectionLimits = Pick<ListenerLimits, 'maxConnections' | 'tlsHandshakeTimeoutMs'>;

/** Each from `options`, else the mesh's, else the server's own cap (`ownMaxConnections`, if set), else the default. */
export function resolveConnectionLimits(options: ListenerLimitOptions, mesh: ListenerLimitOptions, ownMaxConnections = 0): ConnectionLimits {
  return {
    maxConnections: options.maxConnections ?? mesh.maxConnections ?? (ownMaxConnections > 0 ? ownMaxConnections : defaultMaxConnections()),
    tlsHandshakeTimeoutMs: options.tlsHandshakeTimeoutMs ?? mesh.tlsHandshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
  };
}

/** Timeouts and the connection cap on the server itself (the handshake deadline is the mTLS front's). */
export function applyListenerLimits(server: http.Server, limits: ListenerLimits, logger: Logger): CapStats | undefined {
  applyHttpTimeouts(server, limits.headersTimeoutMs, limits.requestTimeoutMs);
  limitSendStalls(server, limits.sendTimeoutMs, (socket) =>
    logger.debug('hyphae: closed a connection whose peer read nothing of its answer', { peer: `${socket.remoteAddress}:${socket.remotePort}`, sendTimeoutMs: limits.sendTimeoutMs }),
  );
  // The owner's own value stays, as with the header and request timeouts.
  if (server.keepAliveTimeout === NODE_DEFAULT_KEEP_ALIVE_TIMEOUT_MS) server.keepAliveTimeout = DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
  return capListener(server, limits.maxConnections, logger, 'wrapServer maxConnections');
}

/** The connection cap (0: none) with its "reached" and "cleared" lines in the mesh's log; `setting` names the option. */
export function capListener(server: net.Server, maxConnections: number, logger: Logger, setting: string): CapStats | undefined {
  if (maxConnections === 0) return undefined;
  return capConnections(server, maxConnections, (level, message, fields) => logger[level](`hyphae: ${message}`, fields), setting);
}
