/**
 * startProxy() options, checked before anything is started: a wrong value fails
 * with HYPHAE_ERR_INVALID_OPTIONS naming it. Defaults live here, once.
 */
import net from 'node:net';
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { MeshOptions } from '../mesh/options.js';
import type { WrapServerOptions } from '../server/wrap-server.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface AppHealthOptions {
  /** GET this path on the application (2xx or 3xx: healthy); absent: a TCP connect to its port. */
  path?: string | undefined;
  /** Between two checks. */
  intervalMs?: number | undefined;
  /** One check's bound. */
  timeoutMs?: number | undefined;
  /** Consecutive failed checks before the instance leaves the registry (Consul's failures_before_critical). */
  failures?: number | undefined;
  /** Consecutive passed checks before it comes back (Consul's success_before_passing). */
  successes?: number | undefined;
}

export interface OutboundLimitOptions {
  /** 408 and close when a request's headers are not in this long. */
  headersTimeoutMs?: number | undefined;
  /** The same for the whole request, body included. */
  requestTimeoutMs?: number | undefined;
  /** Connections open at once; more are closed at accept. */
  maxConnections?: number | undefined;
  /** Bytes of request line and headers; more is answered 431. */
  maxHeaderSize?: number | undefined;
}

export interface ProxyOptions {
  /** The mesh of the proxied workload: its `service` (required) is the workload's identity and registry name. */
  mesh: MeshOptions;
  /** The application, on this host: where inbound requests go. */
  upstream: HostPort;
  /** The inbound listener (mTLS from the mesh). Default 0.0.0.0, port 0 (any free port). */
  listen?: HostPort | undefined;
  /** The outbound listener the application uses as its HTTP proxy, loopback only. Default 127.0.0.1:15001; false: none. */
  outbound?: HostPort | false | undefined;
  health?: AppHealthOptions | undefined;
  /** wrapServer options of the inbound server (load shedding, deadlines, listener limits...). */
  inbound?: WrapServerOptions | undefined;
  outboundLimits?: OutboundLimitOptions | undefined;
  logger?: Logger | undefined;
}

export const DEFAULT_OUTBOUND: HostPort = { host: '127.0.0.1', port: 15001 };
export const DEFAULT_LISTEN: HostPort = { host: '0.0.0.0', port: 0 };
export const DEFAULT_HEALTH = { intervalMs: 5_000, timeoutMs: 2_000, failures: 3, successes: 1 } as const;
export const DEFAULT_OUTBOUND_LIMITS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  maxConnections: 1_024,
  maxHeaderSize: 16_384,
} as const;

export interface ResolvedProxyOptions {
  mesh: MeshOptions & { service: string };
  upstream: HostPort;
  listen: HostPort;
  outbound: HostPort | false;
  health: { path: string | undefined; intervalMs: number; timeoutMs: number; failures: number; successes: number };
  inbound: WrapServerOptions;
  outboundLimits: Required<{ [K in keyof OutboundLimitOptions]: number }>;
  logger: Logger | undefined;
}

function invalid(message: string, option: string): MeshError {
  return new MeshError(ErrorCode.INVALID_OPTIONS, `proxy options: ${message}`, { details: { option } });
}

/** `127.0.0.1:9000`, `[::1]:9000`, `localhost:9000`. */
export function parseHostPort(value: string, option: string): HostPort {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65_535) throw invalid(`${option} must be host:port (e.g. 127.0.0.1:9000, [::1]:9000), got "${value}"`, option);
  return { host: m[1] ?? m[2]!, port };
}

/** Only this host's own processes may send through the outbound listener: it hands out the workload's identity. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  const kind = net.isIP(host);
  if (kind === 4) return host.startsWith('127.');
  if (kind === 6) return host === '::1' || /^::ffff:127\./i.test(host);
  return false;
}

function count(value: number | undefined, fallback: number, min: number, max: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`${option} must be an integer from ${min} to ${max}, got ${String(value)}`, option);
  return value;
}

function checkHostPort(hp: HostPort, option: string): HostPort {
  if (typeof hp.host !== 'string' || hp.host === '' || !Number.isInteger(hp.port) || hp.port < 0 || hp.port > 65_535) {
    throw invalid(`${option} must be { host, port } with a port from 0 to 65535`, option);
  }
  return hp;
}

export function resolveProxyOptions(options: ProxyOptions): ResolvedProxyOptions {
  const service = options.mesh.service;
  if (!service) throw invalid('mesh.service is required: the proxied workload registers and is identified by it', 'mesh.service');
  if (!options.upstream) throw invalid('upstream (the application, host:port) is required', 'upstream');
  const upstream = checkHostPort(options.upstream, 'upstream');
  if (upstream.port === 0) throw invalid('upstream needs the port the application listens on, not 0', 'upstream');
  const outbound = options.outbound === false ? false : checkHostPort(options.outbound ?? DEFAULT_OUTBOUND, 'outbound');
  if (outbound && !isLoopback(outbound.host)) {
    throw invalid(`outbound must be a loopback address (127.0.0.1, ::1, localhost), got "${outbound.host}": any process that reaches it sends with this workload's identity`, 'outbound');
  }
  const h = options.health ?? {};
  if (h.path !== undefined && !h.path.startsWith('/')) throw invalid(`health.path must start with "/", got "${h.path}"`, 'health.path');
  const l = options.outboundLimits ?? {};
  const d = DEFAULT_OUTBOUND_LIMITS;
  return {
    mesh: { ...options.mesh, service },
    upstream,
    listen: checkHostPort(options.listen ?? DEFAULT_LISTEN, 'listen'),
    outbound,
    health: {
      path: h.path,
      intervalMs: count(h.intervalMs, DEFAULT_HEALTH.intervalMs, 50, 3_600_000, 'health.intervalMs'),
      timeoutMs: count(h.timeoutMs, DEFAULT_HEALTH.timeoutMs, 10, 600_000, 'health.timeoutMs'),
      failures: count(h.failures, DEFAULT_HEALTH.failures, 1, 100, 'health.failures'),
      successes: count(h.successes, DEFAULT_HEALTH.successes, 1, 100, 'health.successes'),
    },
    inbound: options.inbound ?? {},
    outboundLimits: {
      headersTimeoutMs: count(l.headersTimeoutMs, d.headersTimeoutMs, 0, 600_000, 'outboundLimits.headersTimeoutMs'),
      requestTimeoutMs: count(l.requestTimeoutMs, d.requestTimeoutMs, 0, 3_600_000, 'outboundLimits.requestTimeoutMs'),
      maxConnections: count(l.maxConnections, d.maxConnections, 0, 1_000_000, 'outboundLimits.maxConnections'),
      maxHeaderSize: count(l.maxHeaderSize, d.maxHeaderSize, 1_024, 1_048_576, 'outboundLimits.maxHeaderSize'),
    },
    logger: options.logger,
  };
}
