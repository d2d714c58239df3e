/**
 * The mesh's own cluster (issue 17), as its control plane names it on every answer
 * (discovery/control-plane-client.ts): what `mesh.cluster` and `mesh.onCluster()` show, and what the
 * telemetry names as this process's cluster and as the cluster of every local endpoint. Made with the
 * mesh, so a listener added before the start hears the name once it is learnt.
 */
import { Listeners, type Disposer } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { ControlPlaneClient } from '../discovery/control-plane-client.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';

export class ClusterName {
  #value: string | undefined;
  #listeners = new Listeners<string>();
  #telemetry: MeshTelemetry | undefined;
  #logger: Logger;

  constructor(telemetry: MeshTelemetry | undefined, logger: Logger) {
    this.#telemetry = telemetry;
    this.#logger = logger;
  }

  /** Undefined until the control plane answered, and with a control plane older than the cluster header. */
  get value(): string | undefined {
    return this.#value;
  }

  on(listener: (cluster: string) => void): Disposer {
    return this.#listeners.on((cluster) => {
      try {
        listener(cluster);
      } catch (err) {
        // The name came with a control plane answer: an application's listener must not fail that call.
        this.#logger.warn('hyphae: an onCluster listener threw', { error: String(err) });
      }
    });
  }

  /** Learn the name from the started mesh's control plane client, now and on every change. */
  follow(client: ControlPlaneClient): Disposer {
    if (client.cluster !== undefined) this.#set(client.cluster);
    return client.onCluster((c) => this.#set(c));
  }

  #set(cluster: string): void {
    if (cluster === this.#value) return;
    const previous = this.#value;
    this.#value = cluster;
    if (this.#telemetry) this.#telemetry.cluster = cluster;
    // Replicas share one name: a different one means the addresses lead to another control plane.
    if (previous !== undefined) this.#logger.warn('hyphae: the control plane now names another cluster', { previous, cluster });
    this.#listeners.emit(cluster);
  }

  close(): void {
    this.#listeners.clear();
  }
}
