/**
 * The metric instruments, created from one Meter. Observable instruments
 * read counters the mesh already keeps (in-flight counts, endpoint states,
 * certificate dates) at collection time, so they cost nothing per request.
 */
import {
  createNoopMeter,
  ValueType,
  type Counter,
  type Histogram,
  type Meter,
  type ObservableCallback,
  type ObservableGauge,
  type ObservableResult,
  type ObservableUpDownCounter,
} from '@opentelemetry/api';
import * as sc from './semconv.js';
import type { CertificateInfo, EndpointState } from './mesh-telemetry.js';
import type { EdgeTraffic } from './traffic.js';

export interface GaugeSources {
  traffic: EdgeTraffic;
  endpoints(): Iterable<EndpointState>;
  certificates(): Iterable<CertificateInfo>;
  service: string | undefined;
}

export class Instruments {
  /** No meter provider registered: callers skip building attributes nobody reads. */
  readonly noop: boolean;
  readonly clientDuration: Histogram;
  readonly serverDuration: Histogram;
  /** gRPC calls (hyphae/grpc), in ms as the RPC semantic conventions have them. */
  readonly rpcClientDuration: Histogram;
  readonly rpcServerDuration: Histogram;
  readonly retries: Counter;
  readonly budgetExhausted: Counter;
  readonly ejections: Counter;
  readonly shed: Counter;
  readonly denied: Counter;
  /** Removes the observable callbacks: a provider holds them (and through them the mesh) until then. */
  readonly dispose: () => void;

  constructor(meter: Meter, sources: GaugeSources) {
    // The API's no-op provider hands out one shared no-op meter, the one createNoopMeter() returns.
    this.noop = meter === createNoopMeter();
    const advice = { explicitBucketBoundaries: sc.HTTP_DURATION_BUCKETS };
    this.clientDuration = meter.createHistogram(sc.METRIC_CLIENT_DURATION, {
      description: 'Duration of mesh calls, from the call to the end of the response body, retries included.',
      unit: 's',
      advice,
    });
    this.serverDuration = meter.createHistogram(sc.METRIC_SERVER_DURATION, {
      description: 'Duration of requests served by wrapped servers, until the response is sent.',
      unit: 's',
      advice,
    });
    this.rpcClientDuration = meter.createHistogram(sc.METRIC_RPC_CLIENT_DURATION, {
      description: 'Duration of gRPC calls made through the mesh, from the call to its status, retries included.',
      unit: 'ms',
    });
    this.rpcServerDuration = meter.createHistogram(sc.METRIC_RPC_SERVER_DURATION, {
      description: 'Duration of gRPC calls served by a meshed grpc-js server, until the status is sent.',
      unit: 'ms',
    });
    const int = { valueType: ValueType.INT };
    this.retries = meter.createCounter(sc.METRIC_RETRIES, { description: 'Retries sent by the mesh.', unit: '{retry}', ...int });
    this.budgetExhausted = meter.createCounter(sc.METRIC_BUDGET_EXHAUSTED, {
      description: 'Retries not sent because the retry budget was spent.',
      unit: '{retry}',
      ...int,
    });
    this.ejections = meter.createCounter(sc.METRIC_EJECTIONS, { description: 'Endpoints ejected by outlier detection.', unit: '{ejection}', ...int });
    this.shed = meter.createCounter(sc.METRIC_SHED, { description: 'Requests refused by load shedding.', unit: '{request}', ...int });
    this.denied = meter.createCounter(sc.METRIC_DENIED, { description: 'Requests refused by authorization.', unit: '{request}', ...int });

    const clientActive = meter.createObservableUpDownCounter(sc.METRIC_CLIENT_ACTIVE, {
      description: 'Mesh calls under way.',
      unit: '{request}',
      ...int,
    });
    const observers: [ObservableUpDownCounter | ObservableGauge, ObservableCallback][] = [];
    const observe = (instrument: ObservableUpDownCounter | ObservableGauge, callback: ObservableCallback) => {
      instrument.addCallback(callback);
      observers.push([instrument, callback]);
    };
    this.dispose = () => {
      for (const [instrument, callback] of observers.splice(0)) instrument.removeCallback(callback);
    };
    observe(clientActive, (r: ObservableResult) => {
      for (const { namespace, name, kind, counter } of sources.traffic.counters()) {
        // A Gateway's edge holds no calls in flight (they are the destinations'), and its name is no server's.
        if (kind !== 'Service') continue;
        r.observe(counter.inflight, { [sc.ATTR_SERVER_ADDRESS]: name, [sc.ATTR_HYPHAE_DESTINATION_NAMESPACE]: namespace });
      }
    });
    const serverActive = meter.createObservableUpDownCounter(sc.METRIC_SERVER_ACTIVE, {
      description: 'Requests being served by wrapped servers.',
      unit: '{request}',
      ...int,
    });
    observe(serverActive, (r: ObservableResult) => {
      r.observe(sources.traffic.inbound.inflight, sources.service ? { [sc.ATTR_HYPHAE_SERVICE]: sources.service } : {});
    });
    const endpoints = meter.createObservableGauge(sc.METRIC_ENDPOINTS, {
      description: 'Endpoints of each destination, by state.',
      unit: '{endpoint}',
      ...int,
    });
    observe(endpoints, (r: ObservableResult) => {
      const counts = new Map<string, { service: string; namespace: string; state: string; n: number }>();
      for (const e of sources.endpoints()) {
        const key = `${e.namespace}/${e.service}/${e.state}`;
        const c = counts.get(key);
        if (c) c.n++;
        else counts.set(key, { service: e.service, namespace: e.namespace, state: e.state, n: 1 });
      }
      for (const c of counts.values()) {
        r.observe(c.n, {
          [sc.ATTR_SERVER_ADDRESS]: c.service,
          [sc.ATTR_HYPHAE_DESTINATION_NAMESPACE]: c.namespace,
          [sc.ATTR_HYPHAE_ENDPOINT_STATE]: c.state,
        });
      }
    });
    const certs = meter.createObservableGauge(sc.METRIC_CERT_EXPIRATION, {
      description: 'When the workload certificate expires (Unix time); alert on this minus time().',
      unit: 's',
    });
    observe(certs, (r: ObservableResult) => {
      for (const c of sources.certificates()) r.observe(Math.floor(c.notAfter.getTime() / 1000), { [sc.ATTR_HYPHAE_SPIFFE_ID]: c.spiffeId });
    });
  }
}
