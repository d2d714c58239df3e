/**
 * A service this process calls: created on its first call and shared by every
 * later one. It follows the service's discovery state and holds each tier's
 * state for it, rebuilt from the Service spec when it changes (never per
 * request):
 *
 *   logical   the compiled routes (RouteTable), the mirror sender, ServicePolicy
 *             (retry budget, limiter, default timeouts and retry policy)
 *   concrete  Readiness (discovery's answer, waiting calls), the EndpointSet and
 *             its views, the balancer in force, OutlierHealth (detector, timers)
 *
 * and the client stack built over it (stack.ts). Layers never take a
 * Destination: they take the narrow view they read (RouteSource,
 * BackendService, StackTarget).
 */
import { ErrorCode, isMeshError, MeshError } from '../core/errors.js';
import type { Disposer } from '../core/events.js';
import { resolveServiceSpec, type ResolvedServiceSpec } from '../config/resources.js';
import type { Handler } from '../core/filter.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import type { ServiceKey } from '../discovery/resolver.js';
import type { ReadyState, ServiceState, WatchCache } from '../discovery/watch-cache.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import type { MeshCall } from './call/mesh-call.js';
import type { AbortableWait, BackendService, OutlierJudge } from './concrete/backend-service.js';
import { EndpointSet } from './concrete/endpoint-set.js';
import { OutlierHealth } from './concrete/outlier-health.js';
import type { OutlierDetectionOptions } from '../resilience/outlier-detector.js';
import { Readiness } from './concrete/readiness.js';
import { trafficPolicy, type TrafficPolicy } from './concrete/traffic-policy.js';
import type { PlacedFilter } from './call/call-view.js';
import type { Attempt } from './endpoint/attempt.js';
import type { PoolFactory } from './endpoint/endpoint.js';
import { compileRoutePolicy, outlierDetectionOptions } from './logical/policy.js';
import { MirrorSender } from './logical/routing/mirror.js';
import { compileRoutes, type RouteTable } from './logical/routing/route-table.js';
import { ServicePolicy } from './logical/service-policy.js';
import { buildClientStack } from './stack.js';
import { unheardEvents, type ClientEventSink } from './events.js';

export interface DestinationOptions {
  cache: WatchCache;
  poolFactory?: PoolFactory;
  /** A pool factory that needs the destination itself (the mTLS connector reads its mode and identity); wins over poolFactory. */
  poolFactoryFor?: (dest: Destination) => PoolFactory;
  /** How long a call waits for discovery's first answer about this service. */
  discoveryTimeoutMs: number;
  /** The calling process's labels: its zone (locality) comes from them. */
  callerLabels?: Readonly<Record<string, string>>;
  /** The calling process's cluster (failover tiers, backends pinned to a cluster); undefined while unknown. */
  localCluster?: (() => string | undefined) | undefined;
  /** Another service, for routes whose backendRefs name one (a split across services). */
  destinations?: (namespace: string, name: string) => Destination;
  logger?: Logger;
  /** The mesh's event sink: retries, ejections, returns, limits are emitted into it (none listens without a mesh). */
  events?: ClientEventSink;
  /** The mesh's telemetry: the stack gets its layers, and routes this process refuses are reported to it. */
  telemetry?: MeshTelemetry | undefined;
  /** The application's own filters, placed by role (createMesh({ filters })). */
  filters?: readonly PlacedFilter[];
}

export class Destination implements BackendService {
  readonly name: string;
  readonly namespace: string;
  readonly endpoints: EndpointSet;
  readonly handle: Handler<MeshCall, Attempt>;
  /** The compiled routes of the current config version; undefined when no Route names this service. */
  routes: RouteTable | undefined = undefined;
  /** The balancer in force (Service.spec.loadBalancer, peak_ewma by default). */
  loadBalancer = 'peak_ewma';
  /** Copies of requests that this destination's routes mirror (RequestMirror). */
  readonly mirror = new MirrorSender();
  readonly events: ClientEventSink;
  /** Retry budget, limiter, default timeouts and retry policy, from the Service spec. */
  readonly policy: ServicePolicy;
  /** The mesh's telemetry; undefined: the stack has no telemetry layers. */
  readonly telemetry: MeshTelemetry | undefined;
  readonly #readiness: Readiness;
  readonly #health: OutlierHealth<MeshCall>;
  #outlierKey = '';
  #dispose: Disposer;
  #callerLabels: Readonly<Record<string, string>>;
  #localCluster: () => string | undefined;
  /** The Service spec last applied (null: none), to build the tiers again when the local cluster's name changes. */
  #config: ReadyState['config'] = null;
  #destinations: ((namespace: string, name: string) => Destination) | undefined;
  #logger: Logger;
  /** What the current config and routes were built from (JSON), so an unchanged snapshot costs nothing. */
  #configKey: string | undefined;
  #routesKey = '[]';
  /** Why this process refused the current Service spec's balancer (the last good one stays in force). */
  #configRefusal: string | undefined;
  #routeRefusals: string[] = [];
  /** The Service spec with every default filled in (an absent spec's too): nothing below fills gaps. */
  #serviceSpec: ResolvedServiceSpec = resolveServiceSpec(null);

  constructor(key: ServiceKey, options: DestinationOptions) {
    this.name = key.name;
    this.namespace = key.namespace;
    this.endpoints = new EndpointSet(options.poolFactoryFor?.(this) ?? options.poolFactory);
    this.#readiness = new Readiness(key.name, key.namespace, options.discoveryTimeoutMs);
    this.#callerLabels = options.callerLabels ?? {};
    this.#localCluster = options.localCluster ?? noCluster;
    this.#destinations = options.destinations;
    this.#logger = options.logger ?? defaultLogger;
    this.events = options.events ?? unheardEvents();
    this.telemetry = options.telemetry;
    this.#health = new OutlierHealth(this, this.endpoints, this.events);
    this.policy = new ServicePolicy(this.#serviceSpec);
    this.#applyConfig(null);
    this.handle = buildClientStack(this, this.events, options.filters);
    this.#dispose = options.cache.subscribe(key, (s) => (s instanceof MeshError ? this.#readiness.fail(s) : this.#onState(s)));
  }

  get isReady(): boolean {
    return this.#readiness.isReady;
  }

  get state(): ServiceState {
    return this.#readiness.state;
  }

  /** Ejects this service's failing endpoints (Service.spec.outlierDetection); undefined when disabled. */
  get outlier(): OutlierJudge | undefined {
    return this.#health.detector === undefined ? undefined : this.#health;
  }

  /** The outlier detector's settings in force (what the Service spec resolved to); undefined when disabled. */
  get outlierOptions(): Readonly<OutlierDetectionOptions> | undefined {
    return this.#health.detector?.options;
  }

  /** Resolves once discovery knows the service; rejects with its documented error otherwise. */
  whenReady(waiter: AbortableWait): Promise<void> {
    return this.#readiness.whenReady(waiter);
  }

  #onState(s: ServiceState): void {
    // Calls waiting for this answer go on in the microtasks that follow, once the state below is applied.
    this.#readiness.update(s);
    if (s.status === 'ready') {
      this.#applyConfig(s.config);
      this.endpoints.reset(s.endpoints);
      this.#health.sync();
      this.#applyRoutes(s.routes);
    } else if (s.status === 'not-found') {
      this.endpoints.reset([]);
      this.#applyRoutes([]);
    }
  }

  /** A new Service spec: subsets, balancer, locality, resilience. Swapped for new picks; endpoint state carries over. */
  #applyConfig(config: ReadyState['config']): void {
    const key = JSON.stringify(config);
    if (key === this.#configKey) return;
    this.#configKey = key;
    this.#config = config;
    const spec = resolveServiceSpec(config);
    this.#serviceSpec = spec;
    const traffic = this.#traffic(spec, config !== null);
    this.loadBalancer = traffic.loadBalancer;
    this.endpoints.configure({ subsets: traffic.subsets, policy: traffic.pick });
    this.endpoints.setProtocol(spec.protocol);
    // Route rules merge their overrides with the Service's timeouts and retries: compile them again.
    if (this.policy.apply(spec)) this.#routesKey = '';
    const outlier = JSON.stringify(spec.outlierDetection);
    if (outlier !== this.#outlierKey) {
      this.#outlierKey = outlier;
      this.#health.replace(outlierDetectionOptions(spec.outlierDetection));
    }
  }

  /** The local cluster's name was learnt or changed: the same spec, with tiers that know which cluster is home. */
  localClusterChanged(): void {
    this.#configKey = undefined;
    this.#applyConfig(this.#config);
  }

  /**
   * The Service's traffic policy; a balancer this process does not know is refused (xDS NACK semantics): the
   * last good balancer stays in force, the refusal is logged with its code and reported as refused config.
   */
  #traffic(spec: ResolvedServiceSpec, configured: boolean): TrafficPolicy {
    this.#configRefusal = undefined;
    try {
      return trafficPolicy(spec, this.#callerLabels, this, this.#localCluster());
    } catch (err) {
      if (!isMeshError(err, ErrorCode.INVALID_CONFIG) || !configured) throw err;
      this.#configRefusal = err.message;
      this.#logger.warn(`hyphae: ${err.message}; keeping ${this.loadBalancer}`, { code: err.code, ...err.details });
      return trafficPolicy({ ...spec, loadBalancer: this.loadBalancer }, this.#callerLabels, this, this.#localCluster());
    }
  }

  /** Compile the routes once per version; the route layer reads `routes` once per call. */
  #applyRoutes(routes: ReadyState['routes']): void {
    const key = JSON.stringify(routes);
    if (key === this.#routesKey) return this.#reportConfig();
    this.#routesKey = key;
    // Telemetry: rules this process had to leave out are refused config (NACK), shown by `hyphae status`.
    const refused: string[] = [];
    this.#routeRefusals = refused;
    this.routes =
      routes.length === 0
        ? undefined
        : compileRoutes(routes, {
            parent: this,
            destination: (namespace, name) => {
              if (!this.#destinations) throw new Error(`a backend in another service (${namespace}/${name}) needs a mesh`);
              return this.#destinations(namespace, name);
            },
            mirror: this.mirror,
            warn: (message) => {
              refused.push(message);
              this.#logger.warn(message, { service: `${this.namespace}/${this.name}` });
            },
            policy: (rule) => compileRoutePolicy(rule, this.#serviceSpec),
          });
    // Each rule's counter in the edge stats, resolved here so that a call only carries it on.
    this.telemetry?.traffic.edge(this.namespace, this.name).useRoutes(this.routes?.rules ?? []);
    this.#reportConfig();
  }

  /** What this process refused of the service's config (a balancer, route rules), for `hyphae status`. */
  #reportConfig(): void {
    const refused = this.#configRefusal === undefined ? this.#routeRefusals : [this.#configRefusal, ...this.#routeRefusals];
    if (refused.length > 0) this.telemetry?.configRejected(this.name, refused.join('; '));
    else this.telemetry?.configAccepted(this.name);
  }

  async close(): Promise<void> {
    this.#dispose();
    this.#health.close();
    this.#readiness.close(new MeshError(ErrorCode.MESH_CLOSED, 'the mesh was closed', { rejected: true }));
    await this.endpoints.close();
  }
}

const noCluster = (): undefined => undefined;
