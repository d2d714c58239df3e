/**
 * The listener limits of a wrapped server (core/listener-guard.ts): from
 * wrapServer's options, else the mesh's `server` options, else the defaults.
 * The server is the user's: header and request timeouts it was created with
 * (anything but Node's defaults) are kept unless an option says otherwise, so
 * a service that accepts slow uploads on purpose keeps doing so.
 */
import type http from 'node:http';
import type { Logger } from '../core/logger.js';
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

/** Each one: 0 turns it off; absent takes the next level's. */
export type ListenerLimitOptions = Partial<ListenerLimits>;

export const LISTENER_LIMIT_OPTIONS = ['maxConnections', 'tlsHandshakeTimeoutMs', 'headersTimeoutMs', 'requestTimeoutMs'] as const;

export function resolveListenerLimits(server: http.Server, options: ListenerLimitOptions, mesh: ListenerLimitOptions): ListenerLimits {
  const pick = (key: keyof ListenerLimits): number | undefined => options[key] ?? mesh[key];
  return {
    maxConnections: pick('maxConnections') ?? (server.maxConnections > 0 ? server.maxConnections : defaultMaxConnections()),
    tlsHandshakeTimeoutMs: pick('tlsHandshakeTimeoutMs') ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
    headersTimeoutMs: pick('headersTimeoutMs') ?? (server.headersTimeout === NODE_DEFAULT_HEADERS_TIMEOUT_MS ? DEFAULT_HEADERS_TIMEOUT_MS : server.headersTimeout),
    requestTimeoutMs: pick('requestTimeoutMs') ?? (server.requestTimeout === NODE_DEFAULT_REQUEST_TIMEOUT_MS ? DEFAULT_REQUEST_TIMEOUT_MS : server.requestTimeout),
  };
}

/** Timeouts and the connection cap on the server itself (the handshake deadline is the mTLS front's). */
export function applyListenerLimits(server: http.Server, limits: ListenerLimits, logger: Logger): CapStats | undefined {
  applyHttpTimeouts(server, limits.headersTimeoutMs, limits.requestTimeoutMs);
  if (limits.maxConnections === 0) return undefined;
  return capConnections(server, limits.maxConnections, (level, message, fields) => logger[level](`hyphae: ${message}`, fields), 'wrapServer maxConnections');
}
