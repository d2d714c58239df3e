/**
 * What a mesh holds once started (start.ts reached the control plane and the
 * CA): discovery, the destinations it calls, the registrar of its servers and
 * the stats reporter. Kept apart from mesh.ts because none of it can exist
 * before the start, while the Mesh itself, its telemetry, event sink and
 * dispatcher, exist from construction (the lazy form needs them at once).
 */
import type { Logger } from '../core/logger.js';
import type { ControlPlaneClient } from '../discovery/control-plane-client.js';
import type { Resolver } from '../discovery/resolver.js';
import { WatchCache } from '../discovery/watch-cache.js';
import type { WatchStream } from '../discovery/watch-stream.js';
import type { StatsReporter } from '../discovery/stats-reporter.js';
import type { ClientEventSink } from '../client/events.js';
import type { PolicySource } from '../server/policy-source.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { controlPlaneDiscovery } from './fail-static.js';
import { watchCachePolicySource } from './policy-source.js';
import type { ResolvedMeshOptions } from './options.js';
import type { MeshSecurity } from './security.js';
import type { MeshStart } from './start.js';
import { certificateInfo, endpointStates, startStatsReporter } from './telemetry.js';
import { Destinations } from './destinations.js';
import { MeshRegistrar } from './registrar.js';
import type { MeshTap } from './tap.js';
import { EdgeRoutes } from './edge-routes.js';

export interface RuntimeDeps {
  options: ResolvedMeshOptions;
  logger: Logger;
  events: ClientEventSink;
  telemetry: MeshTelemetry | undefined;
  /** `hyphae tap` of this process's servers (tap.ts); undefined without a service name. */
  tap?: MeshTap | undefined;
}

export class MeshRuntime {
  readonly destinations: Destinations;
  /** Registers the wrapped servers; undefined without a control plane. */
  readonly registrar: MeshRegistrar | undefined;
  /** mTLS (an https:// control plane); undefined for a plain mesh. */
  readonly security: MeshSecurity | undefined;
  /** The policies of this process's own service; undefined without a service name (nothing to select them by). */
  readonly policies: PolicySource | undefined;
  #client: ControlPlaneClient | undefined;
  #edge: EdgeRoutes | undefined;
  #logger: Logger;
  #stream: WatchStream | undefined;
  #resolver: Resolver;
  #cache: WatchCache;
  #reporter: StatsReporter | undefined;
  #disposers: (() => void)[] = [];
  #telemetry: MeshTelemetry | undefined;

  constructor({ options, logger, events, telemetry, tap }: RuntimeDeps, { client, security }: MeshStart) {
    this.#client = client;
    this.#logger = logger;
    this.#telemetry = telemetry;
    this.security = security;
    this.registrar = client ? new MeshRegistrar(client, options, logger) : undefined;
    if (options.resolver) {
      this.#resolver = options.resolver;
    } else {
      ({ stream: this.#stream, resolver: this.#resolver } = controlPlaneDiscovery(client!, options, logger));
    }
    this.#cache = new WatchCache(this.#resolver);
    this.destinations = new Destinations({
      options,
      cache: this.#cache,
      logger,
      events,
      telemetry,
      poolFactory: security && ((service) => security.poolFactory(service)),
      // Failover tiers and route backends pinned to a cluster name the local one: learnt from the control plane.
      localCluster: () => client?.cluster,
    });
    if (client) this.#disposers.push(client.onCluster(() => this.destinations.localClusterChanged()));
    this.policies = options.service ? watchCachePolicySource(this.#cache, { namespace: options.namespace, name: options.service }) : undefined;
    // Telemetry reads the endpoints of every destination and the certificate; stats go to the control plane.
    if (telemetry) {
      this.#disposers.push(telemetry.observeEndpoints(() => endpointStates(this.destinations.values())));
      if (security) this.#disposers.push(telemetry.observeCertificate(() => certificateInfo(security.identity())));
      const registrar = this.registrar;
      if (client) this.#reporter = startStatsReporter(telemetry, client, options, () => registrar?.instanceIds() ?? [], logger);
    }
    // The control plane announces taps of our service on the stream we hold anyway (it follows our own service for the policies).
    if (tap && client && this.#stream) this.#disposers.push(tap.attach(this.#stream, client));
    // Following our own service opens the watch stream at once: the trust bundle and our servers' mode arrive on it.
    if (security && this.#stream) security.follow(this.#stream, this.#cache, { namespace: options.namespace, name: options.service! });
  }

  /** For the mesh's edges (the gateway): its Gateway's watch and its Routes compiled against these destinations. */
  get edge(): EdgeRoutes {
    return (this.#edge ??= new EdgeRoutes(this.#stream, this.destinations, this.#logger, this.#telemetry, { cache: this.#cache, registrar: this.registrar }));
  }

  /** After the mesh's servers drained: the last stats report counts their final requests. */
  async closeReporter(): Promise<void> {
    const reporter = this.#reporter;
    this.#reporter = undefined;
    await reporter?.close();
    for (const d of this.#disposers.splice(0)) d();
  }

  /** Call closeReporter() first (the mesh closes its telemetry between the two). */
  async close(): Promise<void> {
    await this.closeReporter();
    await this.registrar?.close();
    await this.destinations.close();
    await this.#cache.close();
    await this.#resolver.close();
    await this.security?.close();
    await this.#stream?.close();
    await this.#client?.close();
  }
}
