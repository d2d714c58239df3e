/** startMeshGateway's options, checked and completed in one place. */
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { clusterNameSchema } from '../config/names.js';
import type { MeshOptions } from '../mesh/options.js';
import { DEFAULT_LISTENER_OPTIONS, type ListenerOptions } from './listener.js';
import { RELAY_KINDS, type RelayKind } from './native-relay.js';

export const DEFAULT_MESH_GATEWAY_SERVICE = 'mesh-gateway';

export interface MeshGatewayOptions extends Partial<ListenerOptions> {
  /**
   * The gateway's mesh (control plane, token, namespace...): `service` defaults to "mesh-gateway"; its
   * identity is `spiffe://<td>/ns/<namespace>/sa/<service>`, and it registers as an instance of that
   * service at its listener's address, so a peer cluster finds it there (s8-peering imports it).
   */
  mesh: MeshOptions;
  /**
   * The cluster this gateway serves (SNI names of another cluster are refused). Default: its control plane's
   * `--cluster`, learnt at start; given, it must be that one (a gateway of dc1 started against dc2's control
   * plane would refuse every caller of dc2's services).
   */
  cluster?: string | undefined;
  /** Where the listener binds. Default 0.0.0.0:8443. */
  host?: string | undefined;
  port?: number | undefined;
  /** The address registered for the listener when the bound one is a wildcard (as wrapServer's advertiseAddress). */
  advertiseAddress?: string | undefined;
  /** Register the listener as an instance of the gateway's service. Default true (with a control plane). */
  register?: boolean | undefined;
  /** Services followed at once. Default 1000. */
  maxServices?: number | undefined;
  /** How long a service named for the first time may take to be known. Default 5000. */
  discoveryTimeoutMs?: number | undefined;
  /** On close: connections still open are cut this long after the listener stopped accepting. Default 30000. */
  gracePeriodMs?: number | undefined;
  logger?: Logger | undefined;
}

export interface ResolvedMeshGatewayOptions extends ListenerOptions {
  mesh: MeshOptions & { service: string };
  cluster: string | undefined;
  host: string;
  port: number;
  advertiseAddress: string | undefined;
  register: boolean;
  maxServices: number;
  discoveryTimeoutMs: number;
  gracePeriodMs: number;
  logger: Logger | undefined;
}

function invalid(message: string, option: string): MeshError {
  return new MeshError(ErrorCode.INVALID_OPTIONS, `mesh gateway options: ${message}`, { details: { option } });
}

function int(value: number | undefined, fallback: number, min: number, max: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`${option} must be an integer from ${min} to ${max}`, option);
  return value;
}

function relayKind(value: unknown): RelayKind {
  if (value === undefined) return DEFAULT_LISTENER_OPTIONS.relay;
  if (RELAY_KINDS.includes(value as RelayKind)) return value as RelayKind;
  throw invalid(`relay must be one of ${RELAY_KINDS.join(', ')}, got ${JSON.stringify(value)}`, 'relay');
}

export function resolveMeshGatewayOptions(o: MeshGatewayOptions): ResolvedMeshGatewayOptions {
  if (o.cluster !== undefined && !clusterNameSchema.safeParse(o.cluster).success)
    throw invalid(`cluster must be a DNS label (the control plane's --cluster), got ${JSON.stringify(o.cluster)}`, 'cluster');
  const d = DEFAULT_LISTENER_OPTIONS;
  return {
    mesh: { ...o.mesh, service: o.mesh.service ?? DEFAULT_MESH_GATEWAY_SERVICE },
    cluster: o.cluster,
    host: o.host ?? '0.0.0.0',
    port: int(o.port, 8443, 0, 65_535, 'port'),
    advertiseAddress: o.advertiseAddress,
    register: o.register ?? true,
    maxServices: int(o.maxServices, 1_000, 1, 100_000, 'maxServices'),
    discoveryTimeoutMs: int(o.discoveryTimeoutMs, 5_000, 1, 600_000, 'discoveryTimeoutMs'),
    gracePeriodMs: int(o.gracePeriodMs, 30_000, 0, 3_600_000, 'gracePeriodMs'),
    helloTimeoutMs: int(o.helloTimeoutMs, d.helloTimeoutMs, 1, 600_000, 'helloTimeoutMs'),
    maxHelloBytes: int(o.maxHelloBytes, d.maxHelloBytes, 512, 65_536, 'maxHelloBytes'),
    maxConnections: int(o.maxConnections, d.maxConnections, 1, 1_000_000, 'maxConnections'),
    idleTimeoutMs: int(o.idleTimeoutMs, d.idleTimeoutMs, 1, 86_400_000, 'idleTimeoutMs'),
    connectTimeoutMs: int(o.connectTimeoutMs, d.connectTimeoutMs, 1, 600_000, 'connectTimeoutMs'),
    connectAttempts: int(o.connectAttempts, d.connectAttempts, 1, 100, 'connectAttempts'),
    downMs: int(o.downMs, d.downMs, 0, 3_600_000, 'downMs'),
    relay: relayKind(o.relay),
    logger: o.logger,
  };
}

/** The cluster served: the one given, checked against the control plane's, else the control plane's. */
export function servedCluster(given: string | undefined, controlPlane: string | undefined): string {
  if (given !== undefined && controlPlane !== undefined && given !== controlPlane) {
    throw invalid(`cluster ${given} is not the control plane's (${controlPlane}): the gateway would route no caller of this cluster`, 'cluster');
  }
  const cluster = given ?? controlPlane;
  if (cluster === undefined) throw invalid('the control plane names no cluster (it predates clusters, or there is none): give the cluster served', 'cluster');
  return cluster;
}
