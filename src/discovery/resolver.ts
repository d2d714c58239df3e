/**
 * The resolver interface: how a destination learns its endpoints. The control
 * plane resolver is the default; the static resolver serves tests and meshes
 * without a control plane; users may plug their own (hyphae/extend).
 */
import type { Disposer } from '../core/events.js';
import type { MeshError } from '../core/errors.js';
import type { AuthorizationPolicyResource, MtlsMode, RouteResource, ServiceSpec } from '../config/resources.js';

export interface EndpointInfo {
  /** Stable identity of the endpoint within its service (address:port). */
  id: string;
  address: string;
  port: number;
  labels: Readonly<Record<string, string>>;
  weight: number;
  /**
   * The cluster of an instance imported from a peer cluster (issue 17); undefined for the local cluster's
   * own instances, whose cluster is the control plane's (ControlPlaneClient.cluster). Resolved here once
   * per snapshot, so telemetry reads it from the endpoint with no work per request.
   */
  cluster?: string;
}

export interface ServiceKey {
  namespace: string;
  name: string;
}

/** What the control plane says about a service besides its endpoints. Resolvers without config leave these out. */
export interface ServiceConfig {
  /** The Service resource's spec: per-destination defaults. */
  config?: ServiceSpec | null;
  /** Routes whose parentRefs name the service (applied by its callers). */
  routes?: readonly RouteResource[];
  /** Authorization policies that select the service (enforced by its servers). */
  policies?: readonly AuthorizationPolicyResource[];
  /** How the service's servers accept connections; null when the mesh has no CA. */
  mtlsMode?: MtlsMode | null;
}

export type ResolverUpdate =
  /** The full set of endpoints, and the service's config when the resolver knows it. */
  | ({ type: 'reset'; endpoints: readonly EndpointInfo[]; version?: number } & ServiceConfig)
  | { type: 'add'; endpoint: EndpointInfo }
  | { type: 'remove'; id: string }
  /**
   * The service is unknown to the resolver (neither configured nor ever registered).
   * Policies may already select it: a server starting before its first
   * registration must enforce them (a control-plane resolver passes them).
   */
  | { type: 'not-found'; policies?: readonly AuthorizationPolicyResource[] }
  /** The resolver cannot currently learn the state; the last good state stays in force. */
  | { type: 'error'; error: MeshError };

export interface Resolver {
  /** Follow a service. The listener hears the current state first (reset or not-found) as soon as it is known. */
  watch(service: ServiceKey, listener: (update: ResolverUpdate) => void): Disposer;
  close(): Promise<void>;
}
