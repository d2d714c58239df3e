/**
 * startGateway's options, checked and completed in one place. The Gateway
 * resource (from the control plane) says what to listen on and how to treat
 * clients; these say who the process is and where its own admin port is.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { MeshOptions } from '../mesh/options.js';
import type { HostPort } from '../proxy/options.js';

export interface GatewayOptions {
  /** The gateway's mesh: `service` defaults to `name`; its identity is `spiffe://<td>/ns/<namespace>/sa/<service>`. */
  mesh: MeshOptions;
  /** The Gateway resource this process serves. */
  name: string;
  /** Its namespace; default the mesh's namespace, else "default". */
  namespace?: string | undefined;
  /** Where every listener binds (its port is the Gateway's). Default 0.0.0.0. */
  host?: string | undefined;
  /**
   * Bind the listener the Gateway puts on port P to `ports[P]` instead (0: any free port). For tests and for
   * several replicas on one host; the Gateway's port still names the listener everywhere else.
   */
  ports?: Readonly<Record<number, number>> | undefined;
  /** `/healthz` and `/readyz` (a port of their own, as Istio's 15021). Default 127.0.0.1:15021; false: none. */
  admin?: HostPort | false | undefined;
  /** On close: /readyz fails this long before the listeners stop accepting, so a balancer takes the replica out first. Default 5000. */
  drainDelayMs?: number | undefined;
  /** On close: connections still open this long after the listeners stopped accepting are cut. Default 30000. */
  gracePeriodMs?: number | undefined;
  /** How often certificate files are checked for a change (mtime and size). Default 5000. */
  certificateCheckMs?: number | undefined;
  logger?: Logger | undefined;
}

export const DEFAULT_ADMIN: HostPort = { host: '127.0.0.1', port: 15021 };
export const DEFAULT_GATEWAY_TIMING = { drainDelayMs: 5_000, gracePeriodMs: 30_000, certificateCheckMs: 5_000 } as const;

export interface ResolvedGatewayOptions {
  mesh: MeshOptions & { service: string; namespace: string };
  name: string;
  namespace: string;
  host: string;
  ports: Readonly<Record<number, number>>;
  admin: HostPort | false;
  drainDelayMs: number;
  gracePeriodMs: number;
  certificateCheckMs: number;
  logger: Logger | undefined;
}

function invalid(message: string, option: string): MeshError {
  return new MeshError(ErrorCode.INVALID_OPTIONS, `gateway options: ${message}`, { details: { option } });
}

function ms(value: number | undefined, fallback: number, max: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > max) throw invalid(`${option} must be an integer number of ms from 0 to ${max}`, option);
  return value;
}

export function resolveGatewayOptions(options: GatewayOptions): ResolvedGatewayOptions {
  if (!options.name) throw invalid('name (the Gateway resource to serve) is required', 'name');
  const namespace = options.namespace ?? options.mesh.namespace ?? 'default';
  const service = options.mesh.service ?? options.name;
  for (const [from, to] of Object.entries(options.ports ?? {})) {
    if (!Number.isInteger(to) || to < 0 || to > 65_535) throw invalid(`ports[${from}] must be a port from 0 to 65535`, 'ports');
  }
  return {
    mesh: { ...options.mesh, service, namespace },
    name: options.name,
    namespace,
    host: options.host ?? '0.0.0.0',
    ports: options.ports ?? {},
    admin: options.admin ?? DEFAULT_ADMIN,
    drainDelayMs: ms(options.drainDelayMs, DEFAULT_GATEWAY_TIMING.drainDelayMs, 600_000, 'drainDelayMs'),
    gracePeriodMs: ms(options.gracePeriodMs, DEFAULT_GATEWAY_TIMING.gracePeriodMs, 3_600_000, 'gracePeriodMs'),
    certificateCheckMs: ms(options.certificateCheckMs, DEFAULT_GATEWAY_TIMING.certificateCheckMs, 3_600_000, 'certificateCheckMs'),
    logger: options.logger,
  };
}
