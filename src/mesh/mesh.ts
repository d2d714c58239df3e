/**
 * The Mesh: one per process (usually). It owns discovery, the destinations the
 * process calls (destinations.ts), the passthrough agent, the servers it
 * wrapped and their registrations (registrar.ts), and offers them as fetch,
 * request, an undici Dispatcher and wrapServer. createMesh() reaches the
 * control plane and the CA first (start.ts).
 */
import type http from 'node:http';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { ErrorCode, MeshError } from '../core/errors.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import type { ControlPlaneClient } from '../discovery/control-plane-client.js';
import type { Resolver } from '../discovery/resolver.js';
import { WatchCache } from '../discovery/watch-cache.js';
import type { WatchStream } from '../discovery/watch-stream.js';
import { MeshDispatcher } from '../client/dispatcher.js';
import { handOver } from '../client/call/options-copy.js';
import { splitUrl } from '../client/call/url.js';
import { wrapServer, wrappedState, type WrapServerOptions } from '../server/wrap-server.js';
import type { RegisteredInstance, ServerRegistrar } from '../server/registrar.js';
import type { InboundTls } from '../server/mtls-front.js';
import type { PolicySource } from '../server/policy-source.js';
import type { ClientEventSink } from '../client/events.js';
import type { HealthState } from '../resilience/outlier-detector.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import type { StatsReporter } from '../discovery/stats-reporter.js';
import { watchCachePolicySource } from './policy-source.js';
import { controlPlaneDiscovery } from './fail-static.js';
import type { MeshSecurity } from './security.js';
import { meshEvents } from './mesh-events.js';
import { parseMeshOptions, type MeshOptions, type ResolvedMeshOptions } from './options.js';
import { certificateInfo, createMeshTelemetry, endpointStates, startStatsReporter } from './telemetry.js';
import { Destinations } from './destinations.js';
import { MeshRegistrar } from './registrar.js';
import { startMesh } from './start.js';

export type MeshRequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method?: Dispatcher.HttpMethod };
export type MeshFetch = (input: Parameters<typeof undiciFetch>[0], init?: Parameters<typeof undiciFetch>[1]) => ReturnType<typeof undiciFetch>;

export interface EndpointView {
  id: string;
  address: string;
  port: number;
  labels: Record<string, string>;
  weight: number;
  inflight: number;
  /** Outlier detection's verdict: healthy, ejected, probation (its ejection is over; the next request is its trial), trial (that request is in flight). */
  health: HealthState;
}

export class Mesh {
  readonly options: ResolvedMeshOptions;
  /** An undici Dispatcher: `undici.fetch(url, { dispatcher: mesh.dispatcher })`. */
  readonly dispatcher: MeshDispatcher;
  readonly logger: Logger;
  #client: ControlPlaneClient | undefined;
  #stream: WatchStream | undefined;
  #resolver: Resolver;
  #cache: WatchCache;
  #destinations: Destinations;
  #passthrough: Agent;
  #servers = new Set<http.Server>();
  #registrar: MeshRegistrar | undefined;
  #closing: Promise<void> | undefined;
  /** mTLS (an https:// control plane); undefined for a plain mesh. */
  #security: MeshSecurity | undefined;
  /** The mesh's one event sink: every destination and wrapped server emits into it; hooks and telemetry subscribe. */
  #events: ClientEventSink;
  /** Spans, metrics, access log and edge stats of this mesh; undefined with `telemetry.enabled: false`. */
  #telemetry: MeshTelemetry | undefined;
  /** Sends the edge stats to the control plane; undefined without one or with `reportStats: false`. */
  #reporter: StatsReporter | undefined;
  #telemetryDisposers: (() => void)[] = [];

  /** Use createMesh(): it validates the options and reaches the control plane first. */
  private constructor(options: ResolvedMeshOptions, client: ControlPlaneClient | undefined, security: MeshSecurity | undefined, telemetry: MeshTelemetry | undefined) {
    this.options = options;
    this.logger = options.logger ?? defaultLogger;
    this.#client = client;
    this.#security = security;
    this.#registrar = client ? new MeshRegistrar(client, options, this.logger) : undefined;
    this.#events = meshEvents(options.hooks, telemetry, this.logger);
    if (options.resolver) {
      this.#resolver = options.resolver;
    } else {
      ({ stream: this.#stream, resolver: this.#resolver } = controlPlaneDiscovery(client!, options, this.logger));
    }
    this.#cache = new WatchCache(this.#resolver);
    this.#destinations = new Destinations({
      options,
      cache: this.#cache,
      logger: this.logger,
      events: this.#events,
      telemetry,
      poolFactory: security && ((service) => security.poolFactory(service)),
    });
    // Telemetry, one per mesh: it reads the endpoints of every destination and the certificate.
    this.#telemetry = telemetry;
    if (telemetry) {
      this.#telemetryDisposers.push(telemetry.observeEndpoints(() => endpointStates(this.#destinations.values())));
      this.#telemetryDisposers.push(() => telemetry.close());
      if (security) this.#telemetryDisposers.push(telemetry.observeCertificate(() => certificateInfo(security.identity())));
      const registrar = this.#registrar;
      if (client) this.#reporter = startStatsReporter(telemetry, client, options, () => registrar?.instanceIds() ?? [], this.logger);
    }
    // Following our own service opens the watch stream at once: the trust bundle and our servers' mode arrive on it.
    if (security && this.#stream) security.follow(this.#stream, this.#cache, { namespace: options.namespace, name: options.service! });
    this.#passthrough = new Agent();
    this.dispatcher = new MeshDispatcher(this.#destinations, this.#passthrough);
  }

  /** `internal.telemetry`: the default mesh's, made before the mesh when a server is wrapped first. */
  static async create(input: MeshOptions, internal: { telemetry?: MeshTelemetry | undefined } = {}): Promise<Mesh> {
    const options = parseMeshOptions(input);
    const { client, security } = await startMesh(options);
    return new Mesh(options, client, security, 'telemetry' in internal ? internal.telemetry : createMeshTelemetry(options));
  }

  /** This process's workload identity and mTLS figures; undefined for a mesh without mTLS. */
  identity(): ReturnType<MeshSecurity['identity']> | undefined {
    return this.#security?.identity();
  }

  /** Renew the workload certificate now instead of at half its lifetime (after a root rotation, in tests). */
  async renewCertificate(): Promise<void> {
    if (!this.#security) throw new MeshError(ErrorCode.INVALID_OPTIONS, 'this mesh has no mTLS (its control plane is not https://)');
    await this.#security.renewNow();
  }

  /** WHATWG fetch through the mesh (undici's fetch with the mesh dispatcher). */
  readonly fetch: MeshFetch = (input, init) => undiciFetch(input, { ...init, dispatcher: this.dispatcher });

  /** undici's `request` shape, the fast path: resolves with status, headers and a streaming body. */
  readonly request = (url: string | URL, options?: MeshRequestOptions): Promise<Dispatcher.ResponseData> => {
    const { origin, path } = splitUrl(url);
    // Object.assign, not a spread with more fields: see client/call/options-copy.ts (a new object shape per call).
    // Handed over: made for this call alone, so the call may set its trace headers on it without a copy.
    return this.dispatcher.request(handOver(Object.assign({}, options, { origin, path, method: options?.method ?? 'GET' })));
  };

  /** Register the server on listen, drain it on close, and run the inbound mesh layers before its handlers. */
  wrapServer<S extends http.Server>(server: S, options: WrapServerOptions = {}): S {
    if (this.#closing) throw new MeshError(ErrorCode.MESH_CLOSED, 'the mesh was closed', { rejected: true });
    if (options.register !== false && this.#client && !this.options.service) {
      throw new MeshError(ErrorCode.INVALID_OPTIONS, 'wrapServer registers the server, so the mesh needs a service name: set the `service` option or HYPHAE_SERVICE', {
        details: { variable: 'HYPHAE_SERVICE' },
      });
    }
    this.#servers.add(server);
    server.once('close', () => this.#servers.delete(server));
    return wrapServer(
      server,
      {
        registrar: async () => this.#serverRegistrar(),
        ...(this.#security ? { tls: async () => this.#security?.inbound } : {}),
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
    const dest = this.#destinations.get(service);
    return (dest?.endpoints.list ?? []).map((e) => ({
      id: e.id,
      address: e.info.address,
      port: e.info.port,
      labels: { ...e.info.labels },
      weight: e.info.weight,
      inflight: e.inflight,
      health: e.health?.state ?? 'healthy',
    }));
  }

  /** Resolves once the wrapped server is registered after listen() (undefined when it does not register). */
  registered(server: http.Server): Promise<RegisteredInstance | undefined> {
    const state = wrappedState(server);
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

  /** Drain and close every wrapped server, then stop discovery and release every connection. */
  close(): Promise<void> {
    if (this.#closing === undefined) this.#destinations.refuseNew();
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    await Promise.all(
      [...this.#servers].map((s) => (s.listening ? new Promise<void>((resolve) => s.close(() => resolve())) : Promise.resolve())),
    );
    // Telemetry: after the servers drained, so the last report counts their final requests.
    await this.#reporter?.close();
    for (const d of this.#telemetryDisposers.splice(0)) d();
    await this.#registrar?.close();
    await this.#destinations.close();
    await this.#cache.close();
    await this.#resolver.close();
    await this.#security?.close();
    await this.#stream?.close();
    await this.#client?.close();
    await this.#passthrough.close();
  }

  #serverRegistrar(): ServerRegistrar | undefined {
    if (!this.#registrar) this.logger.warn('hyphae: no control plane configured; the server is not registered');
    return this.#registrar;
  }

  /** A wrapped server enforces the policies of its own service's snapshot. */
  #policySource(): PolicySource | undefined {
    // Without a service name there is no "own service" to select policies by: nothing to enforce.
    if (!this.options.service) return undefined;
    return watchCachePolicySource(this.#cache, { namespace: this.options.namespace, name: this.options.service });
  }

  /** For the default mesh: adopt a server wrapped before the mesh existed, so close() and signals drain it. */
  static adopt(mesh: Mesh, server: http.Server): void {
    if (!server.listening && wrappedState(server) === undefined) return;
    mesh.#servers.add(server);
    server.once('close', () => mesh.#servers.delete(server));
  }

  /** For the default mesh, which creates the mesh after the server is wrapped. */
  static policySourceOf(mesh: Mesh): PolicySource | undefined {
    return mesh.#policySource();
  }

  /** For the default mesh's lazily resolved registrar. */
  static registrarOf(mesh: Mesh): ServerRegistrar | undefined {
    return mesh.#serverRegistrar();
  }

  /** For the default mesh's lazily resolved mTLS front. */
  static inboundTlsOf(mesh: Mesh): InboundTls | undefined {
    return mesh.#security?.inbound;
  }
}

export function createMesh(options: MeshOptions): Promise<Mesh> {
  return Mesh.create(options);
}
