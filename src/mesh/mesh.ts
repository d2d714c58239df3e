/**
 * The Mesh: one per process (usually). It owns discovery, the destinations the
 * process calls (destinations.ts), the passthrough agent, the servers it
 * wrapped and their registrations (registrar.ts), and offers them as fetch,
 * request, an undici Dispatcher and wrapServer. `new Mesh()` reaches nothing;
 * start() (createMesh() awaits it) reaches the control plane and the CA
 * (start.ts) and wires what needs them (runtime.ts).
 */
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { ErrorCode, MeshError } from '../core/errors.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import { MeshDispatcher } from '../client/dispatcher.js';
import type { EdgeRoutes } from './edge-routes.js';
import { PassthroughCalls } from '../client/passthrough-call.js';
import { handOver } from '../client/call/options-copy.js';
import { splitUrl } from '../client/call/url.js';
import type { WrapServerOptions, WrappableServer } from '../server/wrap-server.js';
import type { RegisteredInstance, ServerRegistrar } from '../server/registrar.js';
import type { PolicySource } from '../server/policy-source.js';
import type { ClientEventSink } from '../client/events.js';
import type { HealthState } from '../resilience/outlier-detector.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import type { MeshSecurity } from './security.js';
import { meshEvents } from './mesh-events.js';
import { parseMeshOptions, type MeshOptions, type ResolvedMeshOptions } from './options.js';
import { createMeshTelemetry } from './telemetry.js';
import { MeshTap } from './tap.js';
import { lazyPolicySource } from './lazy-policy-source.js';
import { serverModule } from './server-module.js';
import { MeshRuntime } from './runtime.js';
import { ClusterName } from './cluster-name.js';
import type { Disposer } from '../core/events.js';
import { hasMtls, startMesh } from './start.js';
import type { AdapterHost } from './adapter-host.js';

export type MeshRequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method?: Dispatcher.HttpMethod };
export type MeshFetch = (input: Parameters<typeof undiciFetch>[0], init?: Parameters<typeof undiciFetch>[1]) => ReturnType<typeof undiciFetch>;

export interface EndpointView {
  id: string;
  address: string;
  port: number;
  labels: Record<string, string>;
  weight: number;
  /** The cluster it runs in: an imported instance's own, else this mesh's (`mesh.cluster`); undefined while that is unknown. */
  cluster: string | undefined;
  inflight: number;
  /** Outlier detection's verdict: healthy, ejected, probation (its ejection is over; the next request is its trial), trial (that request is in flight). */
  health: HealthState;
}

export class Mesh {
  readonly options: ResolvedMeshOptions;
  /** An undici Dispatcher: `undici.fetch(url, { dispatcher: mesh.dispatcher })`. Before start() completes, a call through it starts the mesh and waits. */
  readonly dispatcher: MeshDispatcher;
  readonly logger: Logger;
  /** Discovery, destinations, registrar: what exists once start() succeeded (runtime.ts). */
  #runtime: MeshRuntime | undefined;
  /** The start under way; cleared when it fails, so the next use tries again. */
  #starting: Promise<MeshRuntime> | undefined;
  /** Ends a start that waits for the control plane when the mesh is closed. */
  #startAbort = new AbortController();
  #passthrough: Agent;
  #servers = new Set<WrappableServer>();
  /** What hyphae's adapters (hyphae/grpc) serve: drained by close() beside the wrapped servers. */
  #adapterDrains = new Set<() => Promise<void>>();
  #adapterHost: AdapterHost | undefined;
  #closing: Promise<void> | undefined;
  /** The mesh's one event sink: every destination and wrapped server emits into it; hooks and telemetry subscribe. */
  #events: ClientEventSink;
  /** Spans, metrics, access log and edge stats of this mesh; undefined with `telemetry.enabled: false`. */
  #telemetry: MeshTelemetry | undefined;
  /** `hyphae tap` of this process's servers; undefined without a service name (nothing can name them in a tap). */
  #tap: MeshTap | undefined;
  /** This mesh's cluster, as its control plane names it. */
  #cluster: ClusterName;
  #unfollowCluster: Disposer | undefined;

  /**
   * Validates the options (a MeshError HYPHAE_ERR_INVALID_OPTIONS listing every problem) and makes the
   * mesh without reaching anything: wrapServer works at once; fetch, request and the dispatcher start
   * the mesh on first use and wait for it. `await createMesh(options)` is `new Mesh(options)` + start().
   */
  constructor(input: MeshOptions) {
    const options = parseMeshOptions(input);
    this.options = options;
    this.logger = options.logger ?? defaultLogger;
    // Made now, not at start: a server wrapped before the start builds its inbound stack with it.
    this.#telemetry = createMeshTelemetry(options);
    this.#events = meshEvents(options.hooks, this.#telemetry, this.logger);
    this.#cluster = new ClusterName(this.#telemetry, this.logger);
    this.#tap = options.service ? new MeshTap(`${options.namespace}/${options.service}`) : undefined;
    this.#passthrough = new Agent();
    const t = this.#telemetry;
    this.dispatcher = new MeshDispatcher(() => this.start(), this.#passthrough, t && new PassthroughCalls(t, options.telemetry.propagateTo, this.#passthrough));
  }

  /**
   * Reach the control plane (or start from the discovery cache) and the CA, then wire discovery.
   * Idempotent: every call shares the start under way and resolves at once after it succeeded. A failed
   * start is not remembered: the next call (or the next request, registration...) tries again, so a
   * control plane that comes up later is found. After close(), rejects with HYPHAE_ERR_MESH_CLOSED.
   */
  start(): Promise<this> {
    if (this.#closing) return Promise.reject(closedError());
    if (this.#runtime) return Promise.resolve(this);
    return this.#started().then(() => this);
  }

  /** True once start() succeeded (and until close()). */
  get started(): boolean {
    return this.#runtime !== undefined && this.#closing === undefined;
  }

  /** The runtime, started if need be. A closing mesh's servers still drain with it; only a new start is refused. */
  #started(): Promise<MeshRuntime> {
    if (this.#runtime) return Promise.resolve(this.#runtime);
    if (this.#closing) return Promise.reject(closedError());
    return (this.#starting ??= this.#start());
  }

  async #start(): Promise<MeshRuntime> {
    try {
      const started = await startMesh(this.options, this.#startAbort.signal);
      // Closed while the CA answered: what the start made is let go here, since close() no longer sees it.
      if (this.#closing) {
        await started.security?.close();
        await started.client?.close();
        throw closedError();
      }
      const runtime = new MeshRuntime({ options: this.options, logger: this.logger, events: this.#events, telemetry: this.#telemetry, tap: this.#tap }, started);
      this.#runtime = runtime;
      if (started.client) this.#unfollowCluster = this.#cluster.follow(started.client);
      this.dispatcher.attach(runtime.destinations);
      return runtime;
    } catch (err) {
      this.#starting = undefined;
      throw this.#startAbort.signal.aborted ? closedError() : err;
    }
  }

  /** This process's workload identity and mTLS figures; undefined for a mesh without mTLS, and before start() completes. */
  identity(): ReturnType<MeshSecurity['identity']> | undefined {
    return this.#runtime?.security?.identity();
  }

  /**
   * The cluster this process runs in (issue 17): its control plane's `--cluster`, learnt from the answers
   * of the control plane (every /v1 answer names it). Undefined before start() completes, without a control
   * plane, and with a control plane that predates clusters (no `hyphae-cluster` header); telemetry then names no cluster.
   */
  get cluster(): string | undefined {
    return this.#cluster.value;
  }

  /**
   * Hears the cluster once it is learnt (a listener added before the start too), and again if the control
   * plane's answers ever name another one. Returns the function that unsubscribes.
   */
  onCluster(listener: (cluster: string) => void): Disposer {
    return this.#cluster.on(listener);
  }

  /**
   * For hyphae's own edges (`hyphae gateway`): its Gateway's live configuration and its Routes compiled
   * against this mesh's destinations. Starts the mesh if need be. Not a stable API.
   */
  async edgeRoutes(): Promise<EdgeRoutes> {
    return (await this.#started()).edge;
  }

  /** For hyphae's own adapters (hyphae/grpc, src/mesh/adapter-host.ts). Not a stable API. */
  adapterHost(): AdapterHost {
    return (this.#adapterHost ??= {
      options: this.options,
      logger: this.logger,
      telemetry: this.#telemetry,
      events: this.#events,
      started: () => this.#started(),
      policies: () => this.#policySource(),
      cluster: () => this.#cluster.value,
      onClose: (drain) => {
        if (this.#closing) throw closedError();
        this.#adapterDrains.add(drain);
        return () => this.#adapterDrains.delete(drain);
      },
    });
  }

  /** Renew the workload certificate now instead of at half its lifetime (after a root rotation, in tests). Starts the mesh first if needed. */
  async renewCertificate(): Promise<void> {
    const { security } = await this.#started();
    if (!security) throw new MeshError(ErrorCode.INVALID_OPTIONS, 'this mesh has no mTLS (its control plane is not https://)');
    await security.renewNow();
  }

  /** WHATWG fetch through the mesh (undici's fetch with the mesh dispatcher). Before start() completes it starts the mesh and waits; a failed start rejects with its own error. */
  readonly fetch: MeshFetch = (input, init) => {
    if (this.#runtime === undefined) return this.#started().then(() => this.fetch(input, init));
    return undiciFetch(input, { ...init, dispatcher: this.dispatcher });
  };

  /**
   * undici's `request` shape, the fast path: resolves with status, headers and a streaming body. Before
   * start() completes, the dispatcher starts the mesh and holds the call (a failed start rejects it with its
   * own error): no check of its own here, so a started mesh's calls pay nothing for the lazy form.
   */
  readonly request = (url: string | URL, options?: MeshRequestOptions): Promise<Dispatcher.ResponseData> => {
    const { origin, path } = splitUrl(url);
    // Object.assign, not a spread with more fields: see client/call/options-copy.ts (a new object shape per call).
    // Handed over: made for this call alone, so the call may set its trace headers on it without a copy.
    return this.dispatcher.request(handOver(Object.assign({}, options, { origin, path, method: options?.method ?? 'GET' })));
  };

  /**
   * Register the server on listen, drain it on close, and run the inbound mesh layers before its handlers.
   * Works before start(): the server is drained by close() at once, and its registration, mTLS context and
   * policies wait for the start (which its listen() begins); meanwhile its requests wait for the policies.
   */
  wrapServer<S extends WrappableServer>(server: S, options: WrapServerOptions = {}): S {
    if (this.#closing) throw closedError();
    if (options.register !== false && this.options.controlPlane !== undefined && !this.options.service) {
      throw new MeshError(ErrorCode.INVALID_OPTIONS, 'wrapServer registers the server, so the mesh needs a service name: set the `service` option or HYPHAE_SERVICE', {
        details: { variable: 'HYPHAE_SERVICE' },
      });
    }
    this.#servers.add(server);
    server.once('close', () => this.#servers.delete(server));
    return serverModule().wrapServer(
      server,
      {
        registrar: async () => this.#serverRegistrar(await this.#started()),
        // The control plane's scheme says now whether the started mesh will have mTLS.
        ...(hasMtls(this.options) && options.mtls !== false ? { tls: async () => (await this.#started()).security?.inbound } : {}),
        logger: this.logger,
        defaults: {
          labels: this.options.labels,
          drainDelayMs: this.options.server.drainDelayMs,
          gracePeriodMs: this.options.server.gracePeriodMs,
          advertiseAddress: this.options.server.advertiseAddress,
          pathSemicolons: this.options.server.pathSemicolons,
          listener: this.options.server,
        },
        policies: this.#policySource(),
        hooks: { onShed: (e) => this.#events.emit('shed', e) },
        telemetry: this.#telemetry,
        tap: this.#tap?.point(),
      },
      options,
    );
  }

  /**
   * What this process currently knows of a service it calls: its endpoints
   * with labels, weight and in-flight count (empty until the first call).
   * For diagnostics and tools; the hot path never goes through it.
   */
  endpoints(service: string): EndpointView[] {
    const dest = this.#runtime?.destinations.get(service);
    const local = this.#cluster.value;
    return (dest?.endpoints.list ?? []).map((e) => ({
      id: e.id,
      address: e.info.address,
      port: e.info.port,
      labels: { ...e.info.labels },
      weight: e.info.weight,
      cluster: e.info.cluster ?? local,
      inflight: e.inflight,
      health: e.health?.state ?? 'healthy',
    }));
  }

  /** Resolves once the wrapped server is registered after listen() (undefined when it does not register). */
  registered(server: WrappableServer): Promise<RegisteredInstance | undefined> {
    const state = serverModule().wrappedState(server);
    if (!state) return Promise.reject(new MeshError(ErrorCode.INVALID_OPTIONS, 'this server was not wrapped with wrapServer'));
    return state.registered;
  }

  /**
   * Opt in to graceful shutdown on SIGTERM and SIGINT: drain every wrapped
   * server, close the mesh, exit 0. A second signal exits at once.
   */
  handleSignals(signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): () => void {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(1);
      stopping = true;
      this.logger.info('hyphae: draining on signal', { signal });
      this.close().then(
        () => process.exit(0),
        (err: unknown) => {
          this.logger.error('hyphae: shutdown failed', { error: String(err) });
          process.exit(1);
        },
      );
    };
    for (const s of signals) process.on(s, onSignal);
    return () => {
      for (const s of signals) process.off(s, onSignal);
    };
  }

  /**
   * Drain and close every wrapped server, then stop discovery and release every connection. Before or
   * during start() too: a start waiting for the control plane ends (it and every call waiting for it
   * reject with HYPHAE_ERR_MESH_CLOSED), and a later start() or call is refused the same way.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#runtime?.destinations.refuseNew();
      this.#startAbort.abort(closedError());
    }
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    await Promise.all([
      ...[...this.#servers].map((s) => (s.listening ? new Promise<void>((resolve) => s.close(() => resolve())) : Promise.resolve())),
      ...[...this.#adapterDrains].map((drain) => drain().catch((err: unknown) => this.logger.error('hyphae: an adapter failed to drain', { error: String(err) }))),
    ]);
    // A start under way settles soon after the abort; what it made is closed by it, or here once it succeeded.
    await this.#starting?.catch(() => undefined);
    const runtime = this.#runtime;
    // Telemetry: after the servers drained, so the last report counts their final requests.
    await runtime?.closeReporter();
    this.#telemetry?.close();
    this.#tap?.close();
    this.#unfollowCluster?.();
    this.#cluster.close();
    await runtime?.close();
    await this.#passthrough.close();
  }

  #serverRegistrar(runtime: MeshRuntime): ServerRegistrar | undefined {
    if (!runtime.registrar) this.logger.warn('hyphae: no control plane configured; the server is not registered');
    return runtime.registrar;
  }

  /** A wrapped server enforces the policies of its own service's snapshot; before the start, once it is there. */
  #policySource(): PolicySource | undefined {
    // Without a service name there is no "own service" to select policies by: nothing to enforce.
    if (!this.options.service) return undefined;
    return this.#runtime?.policies ?? lazyPolicySource(async () => (await this.#started()).policies);
  }
}

function closedError(): MeshError {
  return new MeshError(ErrorCode.MESH_CLOSED, 'the mesh was closed', { rejected: true });
}

/** Validate the options, reach the control plane and the CA, and return the started mesh (`new Mesh(options)` + start()). */
export async function createMesh(options: MeshOptions): Promise<Mesh> {
  const mesh = new Mesh(options);
  try {
    return await mesh.start();
  } catch (err) {
    // Nothing of the failed start is left; the telemetry and the passthrough agent made with the mesh are let go.
    await mesh.close();
    throw err;
  }
}
