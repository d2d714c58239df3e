/**
 * What hyphae's own adapters (hyphae/grpc) build on: a Mesh's started runtime
 * (destinations, security, registrar), its telemetry and event sink, its
 * service's policies, and a place in its close(). Kept out of the public Mesh
 * API: the adapters are ours, and this is not a stable interface.
 */
import type { Disposer } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { ClientEventSink } from '../client/events.js';
import type { PolicySource } from '../server/policy-source.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import type { ResolvedMeshOptions } from './options.js';
import type { MeshRuntime } from './runtime.js';

export interface AdapterHost {
  readonly options: ResolvedMeshOptions;
  readonly logger: Logger;
  /** Spans, metrics and access log of the mesh; undefined with `telemetry.enabled: false`. */
  readonly telemetry: MeshTelemetry | undefined;
  /** The mesh's one event sink (retries, ejections, sheds reach the hooks and telemetry through it). */
  readonly events: ClientEventSink;
  /** The started runtime: starts the mesh if need be; rejects as start() does (and after close()). */
  started(): Promise<MeshRuntime>;
  /** The policies of this process's own service (its servers enforce them); undefined without a service name. */
  policies(): PolicySource | undefined;
  /** The cluster this process runs in, once the control plane named it. */
  cluster(): string | undefined;
  /**
   * `drain` runs in close(), beside the wrapped servers' drain and before discovery, registrations and
   * certificates are let go (a server the adapter serves deregisters and finishes its calls first).
   * Returns the disposer that takes it out (the adapter's server closed on its own).
   */
  onClose(drain: () => Promise<void>): Disposer;
}
