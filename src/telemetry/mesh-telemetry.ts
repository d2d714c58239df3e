/**
 * One per mesh: the tracer, the instruments, the edge stats and the access
 * log, and the calls other layers make to count what they decide (retries,
 * ejections, shed and denied requests). Everything goes through
 * @opentelemetry/api: with no SDK registered, spans are non-recording and
 * instruments are no-ops, and only the trace-context pass-through and the
 * stats for the control plane do any work.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { createNoopMeter, trace, type Attributes, type Meter, type MeterProvider, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { registeredMeterProvider, sdkActive } from './context.js';
import { RootSampling } from './root-sampling.js';
import type { Disposer } from '../core/events.js';
import type { AccessLogSink } from './access-log.js';
import type { ClientTarget } from './call-target.js';
import { Instruments } from './instruments.js';
import { SCOPE_NAME, SCOPE_VERSION } from './scope.js';
import * as sc from './semconv.js';
import { EdgeTraffic, type EdgeSnapshot, type TrafficSnapshot } from './traffic.js';

export interface TelemetryOptions {
  /** This process's service (the source of its outgoing edges). */
  service?: string | undefined;
  namespace?: string | undefined;
  /** Receives one JSON line per request on each side; no access log when absent. */
  accessLog?: AccessLogSink | undefined;
  /**
   * Whether @opentelemetry/instrumentation-undici (or another tracer that
   * subscribes to undici's `undici:request:create` channel) makes a CLIENT
   * span per physical request. `auto` (default) looks for a subscriber on
   * each call. When it does, the mesh's own per-call span becomes INTERNAL and
   * leaves the headers to it, so no request has two CLIENT spans or two
   * `traceparent` headers.
   */
  undiciInstrumentation?: 'auto' | boolean;
  /** Default: the global provider, so an SDK registered after createMesh() is still used. */
  tracerProvider?: TracerProvider | undefined;
  /** Default: the global provider, looked up again when it changes (the metrics API has no proxy). */
  meterProvider?: MeterProvider | undefined;
}

export interface EndpointState {
  service: string;
  namespace: string;
  /** `address:port` */
  id: string;
  /** `ejected`: by outlier detection; `draining`: deregistered, finishing its requests. */
  state: 'healthy' | 'ejected' | 'draining';
}

export interface CertificateInfo {
  spiffeId: string;
  notBefore: Date;
  notAfter: Date;
}

/** What this process reports to the control plane each interval (the body of POST /v1/stats, less its envelope). */
export interface StatsSnapshot {
  intervalMs: number;
  edges: EdgeSnapshot[];
  inbound: TrafficSnapshot;
  endpoints: EndpointState[];
  certificate?: { spiffeId: string; notBefore: string; notAfter: string };
  configErrors: { service: string; message: string }[];
}

const undiciCreate = diagnostics_channel.channel('undici:request:create');

export class MeshTelemetry {
  readonly service: string | undefined;
  readonly namespace: string;
  /**
   * This process's cluster, once its control plane has named it (mesh/cluster-name.ts sets it); undefined
   * before, and with a control plane that predates clusters: no cluster attribute is set then.
   */
  cluster: string | undefined = undefined;
  readonly accessLog: AccessLogSink | undefined;
  readonly traffic = new EdgeTraffic();
  readonly tracer: Tracer;
  /** A tracer provider was given in the options: spans are made with it, whatever is registered globally. */
  readonly ownTracer: boolean;
  #meterProvider: MeterProvider | undefined;
  #instrumentsFor: MeterProvider | undefined;
  #instruments: Instruments | undefined;
  #noop: Instruments | undefined;
  #undici: 'auto' | boolean;
  #endpointSources = new Set<() => Iterable<EndpointState>>();
  #certificateSources = new Set<() => CertificateInfo | undefined>();
  #configErrors = new Map<string, string>();
  #lastTake = performance.now();
  #closed = false;
  #samplerOf: unknown = undefined;
  #dropsUnsampled = false;
  #roots: RootSampling | undefined = undefined;
  /** One target per mesh service called or routed to: its identity tells a call routed to its own destination. */
  #targets = new Map<string, ClientTarget>();

  constructor(options: TelemetryOptions = {}) {
    this.service = options.service;
    this.namespace = options.namespace ?? 'default';
    this.accessLog = options.accessLog;
    this.#undici = options.undiciInstrumentation ?? 'auto';
    this.#meterProvider = options.meterProvider;
    // The global tracer is a proxy: it follows an SDK registered after this line.
    this.tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE_NAME, SCOPE_VERSION);
    this.ownTracer = options.tracerProvider !== undefined;
  }

  /**
   * Whether to make spans: a tracer provider of the mesh's own, or an SDK
   * registered globally (checked per request, so an SDK started after
   * createMesh() is picked up).
   */
  tracing(): boolean {
    return this.ownTracer || sdkActive();
  }

  /**
   * The instruments of the current meter provider (made again if the global
   * provider changed). With nothing registered with the API, the no-op ones,
   * without asking the API (one property read per request).
   */
  get instruments(): Instruments {
    // The registered provider is read where the API keeps it (metrics.getMeterProvider() would run the
    // API's version check on every request); none registered: the no-op instruments, made once.
    const provider = this.#meterProvider ?? (registeredMeterProvider() as MeterProvider | undefined);
    if (provider === undefined || this.#closed) return (this.#noop ??= this.#make(createNoopMeter()));
    if (provider !== this.#instrumentsFor || !this.#instruments) {
      // The old provider's callbacks would keep observing this mesh (twice over, with the new ones).
      this.#instruments?.dispose();
      this.#instruments = this.#make(provider.getMeter(SCOPE_NAME, SCOPE_VERSION));
      this.#instrumentsFor = provider;
    }
    return this.#instruments;
  }

  /**
   * The mesh is closed: its observable callbacks leave the meter provider, which would otherwise keep
   * this object (and its edge stats) for the life of the process and go on exporting its gauges.
   */
  close(): void {
    this.#instruments?.dispose();
    this.#instruments = undefined;
    this.#instrumentsFor = undefined;
    this.#closed = true;
  }

  #make(meter: Meter): Instruments {
    return new Instruments(meter, {
      traffic: this.traffic,
      endpoints: () => this.endpointStates(),
      certificates: () => this.#certificates(),
      service: this.service,
    });
  }

  /**
   * True when the tracer is known to drop every child of an unsampled parent:
   * the SDK's ParentBasedSampler with both not-sampled-parent samplers
   * AlwaysOff (its defaults). Then, under an unsampled parent (99 % of
   * requests with a 1 % root sampler), the mesh makes no span at all and
   * carries the parent's context on: the span the SDK would have made records
   * nothing and is seen by nobody, and its making (ids, sampler, attributes,
   * a context) was most of what tracing cost per request. The API does not
   * expose the sampler, so it is read from the SDK's tracer and its
   * documented description (`toString()`); any other tracer, sampler or
   * shape answers false and every span is asked of the tracer as usual.
   * Checked once per delegate tracer (the global one is resolved late).
   */
  dropsUnsampledChildren(): boolean {
    this.#checkTracer();
    return this.#dropsUnsampled;
  }

  /**
   * How to settle trace roots without the SDK's startSpan for the ones its
   * sampler drops (root-sampling.ts), or undefined when that would not be
   * provably what the SDK does. Checked once per delegate tracer, like
   * dropsUnsampledChildren.
   */
  rootSampling(): RootSampling | undefined {
    this.#checkTracer();
    const roots = this.#roots;
    return roots !== undefined && roots.usable ? roots : undefined;
  }

  #checkTracer(): void {
    const tracer = this.tracer as { _getTracer?: () => unknown };
    const real = typeof tracer._getTracer === 'function' ? tracer._getTracer() : tracer;
    if (real !== this.#samplerOf) {
      this.#samplerOf = real;
      this.#dropsUnsampled = dropsUnsampled((real as { _sampler?: unknown } | null)?._sampler);
      this.#roots = RootSampling.of(real);
    }
  }

  /** True when an undici instrumentation makes the per-request CLIENT spans and writes the headers. */
  undiciInstrumented(): boolean {
    return this.#undici === 'auto' ? undiciCreate.hasSubscribers : this.#undici;
  }

  /**
   * The target of calls to mesh service `name`: what names it and counts its calls. Made once per service
   * (a destination's stack, a route backend's first call) and shared, never per request.
   */
  clientTarget(namespace: string, name: string): ClientTarget {
    const key = `${namespace}/${name}`;
    let target = this.#targets.get(key);
    if (target === undefined) this.#targets.set(key, (target = { destination: name, namespace, edge: this.traffic.edge(namespace, name) }));
    return target;
  }

  // ---- what other layers report ----

  /** The retry layer sent a retry; `reason` is its condition (`retriable-status`, `connect-failure`...), as on the span. */
  recordRetry(destination: string, route: string | undefined, reason: string): void {
    const attrs = this.#destAttrs(destination, route);
    attrs[sc.ATTR_HYPHAE_RETRY_REASON] = reason;
    this.instruments.retries.add(1, attrs);
  }

  /** The retry layer wanted to retry but the budget was spent. */
  recordBudgetExhausted(destination: string, route: string | undefined): void {
    this.instruments.budgetExhausted.add(1, this.#destAttrs(destination, route));
  }

  /** Outlier detection ejected an endpoint. The endpoint is not an attribute (unbounded); the span event names it. */
  recordEjection(destination: string, reason: string): void {
    this.instruments.ejections.add(1, this.#destAttrs(destination, undefined, reason));
  }

  /** Load shedding refused a request. */
  recordShed(reason: string): void {
    const attrs: Attributes = { [sc.ATTR_HYPHAE_REASON]: reason };
    this.#ownAttrs(attrs);
    this.instruments.shed.add(1, attrs);
  }

  /** Authorization refused a request; `policy` is `namespace/name` of the deciding policy, when one decided. */
  recordDenied(reason: string, policy?: string): void {
    const attrs: Attributes = { [sc.ATTR_HYPHAE_REASON]: reason };
    if (policy) attrs[sc.ATTR_HYPHAE_POLICY] = policy;
    this.#ownAttrs(attrs);
    this.instruments.denied.add(1, attrs);
  }

  /** A source of endpoint states (the client's endpoint sets): read for the gauge and each stats report. */
  observeEndpoints(source: () => Iterable<EndpointState>): Disposer {
    this.#endpointSources.add(source);
    return () => this.#endpointSources.delete(source);
  }

  /** The workload certificate (mTLS): read for the expiry gauge and each stats report. */
  observeCertificate(source: () => CertificateInfo | undefined): Disposer {
    this.#certificateSources.add(source);
    return () => this.#certificateSources.delete(source);
  }

  /** Configuration for a service was refused by this process (NACK); shown by `hyphae status` until accepted. */
  configRejected(service: string, message: string): void {
    this.#configErrors.set(service, message.slice(0, 1000));
  }

  configAccepted(service: string): void {
    this.#configErrors.delete(service);
  }

  endpointStates(): EndpointState[] {
    const out: EndpointState[] = [];
    for (const source of this.#endpointSources) for (const e of source()) out.push(e);
    return out;
  }

  /** Traffic since the last call and the current state, for the control plane (resets the counters). */
  takeStats(): StatsSnapshot {
    const now = performance.now();
    const intervalMs = Math.max(1, Math.round(now - this.#lastTake));
    this.#lastTake = now;
    const { edges, inbound } = this.traffic.take();
    const snap: StatsSnapshot = {
      intervalMs,
      edges,
      inbound,
      endpoints: this.endpointStates(),
      configErrors: [...this.#configErrors].map(([service, message]) => ({ service, message })),
    };
    const cert = this.#certificates()[0];
    if (cert) snap.certificate = { spiffeId: cert.spiffeId, notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString() };
    return snap;
  }

  #certificates(): CertificateInfo[] {
    const out: CertificateInfo[] = [];
    for (const source of this.#certificateSources) {
      const c = source();
      if (c) out.push(c);
    }
    return out;
  }

  /** A server-side series names its own service and cluster (the client's name the source and destination instead). */
  #ownAttrs(attrs: Attributes): void {
    if (this.service) attrs[sc.ATTR_HYPHAE_SERVICE] = this.service;
    if (this.cluster !== undefined) attrs[sc.ATTR_HYPHAE_CLUSTER] = this.cluster;
  }

  #destAttrs(destination: string, route: string | undefined, reason?: string): Attributes {
    // Metrics name the destination as the HTTP duration histograms do (semconv's server.address), so one
    // label joins every client series in a query; spans also carry hyphae.destination.service.
    const attrs: Attributes = { [sc.ATTR_SERVER_ADDRESS]: destination };
    if (route) attrs[sc.ATTR_HYPHAE_ROUTE] = route;
    if (reason) attrs[sc.ATTR_HYPHAE_REASON] = reason;
    if (this.service) attrs[sc.ATTR_HYPHAE_SOURCE_SERVICE] = this.service;
    return attrs;
  }
}

function dropsUnsampled(sampler: unknown): boolean {
  if (typeof sampler !== 'object' || sampler === null || sampler.constructor?.name !== 'ParentBasedSampler') return false;
  const text = String(sampler);
  return text.startsWith('ParentBased{') && text.includes('remoteParentNotSampled=AlwaysOffSampler,') && text.includes('localParentNotSampled=AlwaysOffSampler}');
}
