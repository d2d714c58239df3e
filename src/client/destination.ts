/**
 * A service this process calls: its discovery state, endpoint set, balancer,
 * its resilience state and the client stack built for it. Created on the first
 * call to the service and shared by every later one.
 *
 * Resilience state owned here, per destination, rebuilt only when its part of
 * the Service spec changes (never per request): the retry budget, the
 * concurrency limiter, the outlier detector, and the default timeouts and
 * retry policy (a route rule may override the last two). Outlier detection
 * feeds EndpointSet.updateHealth() (through #syncHealth), so every subset and
 * locality view leaves an ejected endpoint out — within the detector's rules:
 * at most maxEjectionPercent ejected (always one allowed), and below
 * panicThreshold healthy every endpoint is back in the views (panic).
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Disposer } from '../core/events.js';
import { resolveServiceSpec, type LoadBalancerName, type ResolvedServiceSpec } from '../config/resources.js';
import { ConcurrencyLimiter } from '../resilience/concurrency-limiter.js';
import { currentRequestContext } from '../resilience/request-context.js';
import { tellOnce, type ResilienceHooks } from '../resilience/hooks.js';
import { OutlierDetector, type EjectionEvent, type EndpointHealth } from '../resilience/outlier-detector.js';
import { RetryBudget } from '../resilience/retry-budget.js';
import type { RetryPolicy } from '../resilience/retry-policy.js';
import type { CallTimeouts } from './filters/deadline.js';
import {
  compileRetryPolicy,
  compileRoutePolicy,
  compileTimeouts,
  concurrencyLimitOptions,
  outlierDetectionOptions,
  retryBudgetOptions,
} from './filters/policy.js';
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
  /** Told about retries, ejections, limits (metrics, logs); shared by every destination of a mesh. */
  hooks?: ResilienceHooks;
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
  /** The balancer in force (Service.spec.loadBalancer). */
  loadBalancer!: LoadBalancerName;
  /** Copies of requests that this destination's routes mirror (RequestMirror). */
  readonly mirror = new MirrorSender();
  readonly hooks: ResilienceHooks;
  // ---- resilience (issue 5): read by the client stack's layers per call, rebuilt on config change ----
  /** Timeouts of calls no route rule gives its own (Service.spec.timeouts); {} = none. */
  timeouts: CallTimeouts = {};
  /** Retry policy of calls no route rule gives its own (Service.spec.retries). */
  retryPolicy!: RetryPolicy;
  /** Retries to this destination <= percent of its requests + minPerSecond (Service.spec.retryBudget). */
  retryBudget!: RetryBudget;
  /** Calls in flight and waiting (Service.spec.limits). */
  limiter!: ConcurrencyLimiter;
  /** Ejects this service's failing endpoints (Service.spec.outlierDetection); undefined when disabled. */
  outlier: OutlierDetector | undefined = undefined;
  #resilienceKeys = { budget: '', limits: '', outlier: '', policy: '' };
  #outlierDisposers: Disposer[] = [];
  #ejectionTimers = new Set<NodeJS.Timeout>();
  #hookWarned = new Set<string>();
  #closed = false;
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
  #serviceSpec!: ResolvedServiceSpec;

  constructor(key: ServiceKey, options: DestinationOptions) {
    this.name = key.name;
    this.namespace = key.namespace;
    this.endpoints = new EndpointSet(options.poolFactoryFor?.(this) ?? options.poolFactory);
    this.#discoveryTimeoutMs = options.discoveryTimeoutMs;
    this.#callerLabels = options.callerLabels ?? {};
    this.#destinations = options.destinations;
    this.#logger = options.logger ?? defaultLogger;
    this.hooks = options.hooks ?? {};
    this.telemetry = options.telemetry;
    this.#applyConfig(null);
    this.handle = buildClientStack(this, this.hooks);
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
    // A call made for an inbound request waits no longer than that request has left.
    const ctx = currentRequestContext();
    const left = ctx === undefined ? Infinity : ctx.remaining();
    const inbound = left < this.#discoveryTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          done();
          reject(
            inbound
              ? new MeshError(ErrorCode.DEADLINE_EXCEEDED, `call to ${this.name}: the inbound request's deadline passed while waiting for discovery`, {
                  rejected: true,
                  details: { service: this.name, inbound: true },
                })
              : new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `no answer about service ${this.name} within ${this.#discoveryTimeoutMs} ms`, {
                  rejected: true,
                  details: { service: this.name },
                }),
          );
        },
        inbound ? Math.max(0, left) : this.#discoveryTimeoutMs,
      );
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
      this.#syncHealth();
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
    // Every default filled in, an absent spec's too: nothing below fills gaps.
    const spec = resolveServiceSpec(config);
    this.#serviceSpec = spec;
    const policy = trafficPolicy(spec, this.#callerLabels);
    this.loadBalancer = policy.loadBalancer;
    this.endpoints.configure({ subsets: policy.subsets, policy: policy.pick });
    this.#applyResilience(spec);
  }

  /**
   * The resilience part of the Service spec. Each piece is rebuilt only when
   * its own settings change, so that an unrelated change (a new subset) does
   * not reset the budget's window or forget ejections. Calls in flight keep
   * the limiter they hold a slot of.
   */
  #applyResilience(config: ResolvedServiceSpec): void {
    const keys = this.#resilienceKeys;
    const budget = JSON.stringify(config.retryBudget);
    if (budget !== keys.budget) {
      keys.budget = budget;
      this.retryBudget = new RetryBudget(retryBudgetOptions(config.retryBudget));
    }
    const limits = JSON.stringify(config.limits);
    if (limits !== keys.limits) {
      keys.limits = limits;
      this.limiter = new ConcurrencyLimiter(concurrencyLimitOptions(config.limits));
    }
    const outlier = JSON.stringify(config.outlierDetection);
    if (outlier !== keys.outlier) {
      keys.outlier = outlier;
      this.#replaceDetector(outlierDetectionOptions(config.outlierDetection));
    }
    const policy = JSON.stringify([config.timeouts, config.retries]);
    if (policy !== keys.policy) {
      keys.policy = policy;
      this.timeouts = compileTimeouts(undefined, config.timeouts);
      this.retryPolicy = compileRetryPolicy(undefined, config.retries);
      // Route rules merge their overrides with these: compile them again.
      this.#routesKey = '';
    }
  }

  /** A new detector (or none): every endpoint starts healthy under it. */
  #replaceDetector(options: ReturnType<typeof outlierDetectionOptions>): void {
    for (const d of this.#outlierDisposers) d();
    this.#outlierDisposers = [];
    for (const t of this.#ejectionTimers) clearTimeout(t);
    this.#ejectionTimers.clear();
    for (const ep of this.endpoints.list) {
      ep.health?.release();
      ep.health = undefined;
    }
    this.outlier = options === undefined ? undefined : new OutlierDetector(options, () => this.endpoints.size);
    const d = this.outlier;
    if (d !== undefined) {
      this.#outlierDisposers.push(
        d.onEjection((e) => this.#onEjection(e)),
        d.onReturn((h) => this.#onReturn(h)),
        d.onTrial((h) => this.#onTrial(h, d.options.trialTimeoutMs)),
      );
    }
    this.#syncHealth();
  }

  #onEjection(e: EjectionEvent): void {
    this.#syncHealth();
    // The detector has no timer (expiry is read lazily); the views need one to take the endpoint back
    // for its trial request when the ejection ends.
    const timer = setTimeout(() => {
      this.#ejectionTimers.delete(timer);
      if (!this.#closed) this.#syncHealth();
    }, e.durationMs + 1);
    timer.unref();
    this.#ejectionTimers.add(timer);
    const onEjection = this.hooks.onEjection;
    if (onEjection === undefined) return;
    this.#tell('onEjection', () =>
      onEjection.call(this.hooks, {
        destination: this.name,
        namespace: this.namespace,
        endpoint: e.health.label,
        reason: e.trial ? 'failed-trial' : 'consecutive-failures',
        durationMs: e.durationMs,
        multiplier: e.multiplier,
      }),
    );
  }

  /** A trial that never answers must not keep its endpoint out (and under the ejection cap) for ever. */
  #onTrial(h: EndpointHealth, timeoutMs: number): void {
    const timer = setTimeout(() => {
      this.#ejectionTimers.delete(timer);
      if (!this.#closed) h.expireTrial();
    }, timeoutMs + 1);
    timer.unref();
    this.#ejectionTimers.add(timer);
  }

  #onReturn(h: EndpointHealth): void {
    this.#syncHealth();
    const onReturn = this.hooks.onReturn;
    if (onReturn === undefined) return;
    this.#tell('onReturn', () => onReturn.call(this.hooks, { destination: this.name, namespace: this.namespace, endpoint: h.label }));
  }

  /**
   * Ejections and returns are told from inside an attempt's outcome report, before the attempt is handed up
   * (see tellOnce). A mesh's hooks already catch (src/mesh/resilience-hooks.ts); this holds for any others.
   */
  #tell(name: string, fn: () => void): void {
    tellOnce(this.#hookWarned, name, fn, (hook, err) =>
      this.#logger.warn(`hyphae: the ${hook} hook threw; its error is ignored (logged once)`, {
        service: `${this.namespace}/${this.name}`,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
  }

  /**
   * Outlier state -> the views: an ejected endpoint is left out of every
   * subset and locality view; one whose ejection is over is back in them for
   * its single trial request (the balancer steps past it while the trial is in
   * flight: `available`); in panic every endpoint is in.
   */
  #syncHealth(): void {
    const d = this.outlier;
    const panic = d !== undefined && d.panicking;
    this.endpoints.updateHealth((ep) => panic || ep.health === undefined || ep.health.state !== 'ejected');
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
            policy: (rule) => compileRoutePolicy(rule, this.#serviceSpec),
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
    this.#closed = true;
    this.#dispose();
    for (const d of this.#outlierDisposers) d();
    for (const t of this.#ejectionTimers) clearTimeout(t);
    this.#ejectionTimers.clear();
    const err = new MeshError(ErrorCode.MESH_CLOSED, 'the mesh was closed', { rejected: true });
    for (const w of [...this.#waiters]) w.reject(err);
    await this.endpoints.close();
  }
}
