/**
 * A service this process calls: its discovery state, endpoint set, balancer and
 * the client stack built for it. Created on the first call to the service and
 * shared by every later one.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Disposer } from '../core/events.js';
import type { Handler } from '../core/filter.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import type { ServiceKey } from '../discovery/resolver.js';
import type { ReadyState, ServiceState, WatchCache } from '../discovery/watch-cache.js';
import type { Attempt } from './attempt.js';
import type { MeshCall } from './call.js';
import type { PoolFactory } from './endpoint.js';
import { EndpointSet } from './endpoint-set.js';
import { MirrorSender } from './routing/mirror.js';
import { compileRoutes, type RouteTable } from './routing/route-table.js';
import { buildClientStack } from './stack.js';
import { trafficPolicy } from './traffic-policy.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';

export interface DestinationOptions {
  cache: WatchCache;
  poolFactory?: PoolFactory;
  /** A pool factory that needs the destination itself (the mTLS connector reads its mode and identity); wins over poolFactory. */
  poolFactoryFor?: (dest: Destination) => PoolFactory;
  /** How long a call waits for discovery's first answer about this service. */
  discoveryTimeoutMs: number;
  /** The calling process's labels: its zone (locality) comes from them. */
  callerLabels?: Readonly<Record<string, string>>;
  /** Another service, for routes whose backendRefs name one (a split across services). */
  destinations?: (namespace: string, name: string) => Destination;
  logger?: Logger;
  // ---- telemetry (issue 6)
  /** The mesh's telemetry: the stack gets its layers, and routes this process refuses are reported to it. */
  telemetry?: MeshTelemetry | undefined;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Destination {
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
  /** The mesh's telemetry (issue 6); undefined: the stack has no telemetry layers. */
  readonly telemetry: MeshTelemetry | undefined;
  #state: ServiceState = { status: 'pending' };
  #error: MeshError | undefined;
  #waiters = new Set<Waiter>();
  #dispose: Disposer;
  #discoveryTimeoutMs: number;
  #callerLabels: Readonly<Record<string, string>>;
  #destinations: ((namespace: string, name: string) => Destination) | undefined;
  #logger: Logger;
  /** What the current config and routes were built from (JSON), so an unchanged snapshot costs nothing. */
  #configKey: string | undefined;
  #routesKey = '[]';

  constructor(key: ServiceKey, options: DestinationOptions) {
    this.name = key.name;
    this.namespace = key.namespace;
    this.endpoints = new EndpointSet(options.poolFactoryFor?.(this) ?? options.poolFactory);
    this.#discoveryTimeoutMs = options.discoveryTimeoutMs;
    this.#callerLabels = options.callerLabels ?? {};
    this.#destinations = options.destinations;
    this.#logger = options.logger ?? defaultLogger;
    this.telemetry = options.telemetry;
    this.#applyConfig(null);
    this.handle = buildClientStack(this);
    this.#dispose = options.cache.subscribe(key, (s) => (s instanceof MeshError ? this.#onError(s) : this.#onState(s)));
  }

  get isReady(): boolean {
    return this.#state.status === 'ready';
  }

  get state(): ServiceState {
    return this.#state;
  }

  /** Resolves once discovery knows the service; rejects with its documented error otherwise. */
  whenReady(call: MeshCall): Promise<void> {
    const now = this.#outcome();
    if (now === true) return Promise.resolve();
    if (now) return Promise.reject(now);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(
          new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `no answer about service ${this.name} within ${this.#discoveryTimeoutMs} ms`, {
            rejected: true,
            details: { service: this.name },
          }),
        );
      }, this.#discoveryTimeoutMs);
      const waiter: Waiter = {
        resolve: () => {
          done();
          resolve();
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        call.setOnAbort(undefined);
      };
      this.#waiters.add(waiter);
      call.setOnAbort((err) => waiter.reject(err));
    });
  }

  /** true when calls may go ahead, the error they get, or undefined while discovery has not answered. */
  #outcome(): true | MeshError | undefined {
    switch (this.#state.status) {
      case 'ready':
        return true;
      case 'not-found':
        return this.#notFound();
      default:
        return this.#error;
    }
  }

  #notFound(): MeshError {
    return new MeshError(ErrorCode.SERVICE_NOT_FOUND, `service ${this.name} is not known to the mesh (namespace ${this.namespace})`, {
      rejected: true,
      details: { service: this.name, namespace: this.namespace },
    });
  }

  #onState(s: ServiceState): void {
    this.#state = s;
    this.#error = undefined;
    if (s.status === 'ready') {
      this.#applyConfig(s.config);
      this.endpoints.reset(s.endpoints);
      this.#applyRoutes(s.routes);
    } else if (s.status === 'not-found') {
      this.endpoints.reset([]);
      this.#applyRoutes([]);
    }
    const outcome = this.#outcome();
    if (outcome === undefined) return;
    for (const w of [...this.#waiters]) {
      if (outcome === true) w.resolve();
      else w.reject(outcome);
    }
  }

  /** A new Service spec: subsets, balancer, locality. Swapped for new picks; endpoint state carries over. */
  #applyConfig(config: ReadyState['config']): void {
    const key = JSON.stringify(config);
    if (key === this.#configKey) return;
    this.#configKey = key;
    const policy = trafficPolicy(config, this.#callerLabels);
    this.loadBalancer = policy.loadBalancer;
    this.endpoints.configure({ subsets: policy.subsets, policy: policy.pick });
  }

  /** Compile the routes once per version; the route layer reads `routes` once per call. */
  #applyRoutes(routes: ReadyState['routes']): void {
    const key = JSON.stringify(routes);
    if (key === this.#routesKey) return;
    this.#routesKey = key;
    // Telemetry: rules this process had to leave out are refused config (NACK), shown by `hyphae status`.
    const refused: string[] = [];
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
          });
    if (refused.length > 0) this.telemetry?.configRejected(this.name, refused.join('; '));
    else this.telemetry?.configAccepted(this.name);
  }

  /** Discovery failed: calls waiting for a first answer fail now; a known state stays in force (fail static). */
  #onError(err: MeshError): void {
    if (this.#state.status !== 'pending') return;
    this.#error = err;
    for (const w of [...this.#waiters]) w.reject(err);
  }

  async close(): Promise<void> {
    this.#dispose();
    const err = new MeshError(ErrorCode.MESH_CLOSED, 'the mesh was closed', { rejected: true });
    for (const w of [...this.#waiters]) w.reject(err);
    await this.endpoints.close();
  }
}
