/**
 * The control plane's own series (`hyphae_control_plane_*`), what `GET /metrics` and the
 * `--metrics-listen` listener render. Every label's values come from a fixed set: route templates and
 * methods of the router's own table, status codes the server sends, store operations, error codes of
 * core/errors.ts, resource kinds. Nothing from the wire (a raw path, a service name) becomes a label.
 *
 * Ours rather than prom-client: the control plane needs three instrument kinds and the text format,
 * about 250 lines here; prom-client would be a runtime dependency of the one `hyphae` package, so it
 * would land in every service's install (the control plane is a subpath of the same package), and its
 * registry, default metrics and label handling cost an object per `inc({labels})` on the request path,
 * where ours is an increment on a cell held by the route.
 */
import type { Route } from '../http/router.js';
import { CounterFamily, GaugeFamily, HistogramFamily, readAtScrape, renderAll, type CounterCell, type Family, type HistogramCell } from './instruments.js';
import { processMetrics } from './process-metrics.js';

/** Seconds. The control plane answers from memory in well under a millisecond; a store write takes one to tens. */
export const HTTP_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds. DESIGN's target is p99 < 200 ms for 1,000 watchers: the buckets are dense below it. */
export const PUSH_LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5];
/** Seconds: an fsync'd file write or an etcd round trip. */
export const STORE_DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** What a request's answer is counted under: a cell per status code, made once per (route, code) pair. */
export class RouteMetrics {
  readonly duration: HistogramCell;
  #byCode = new Map<number, CounterCell>();
  constructor(
    private readonly requests: CounterFamily,
    durations: HistogramFamily,
    private readonly route: string,
    private readonly method: string,
  ) {
    this.duration = durations.cell(route, method);
  }
  /** Once per request: a Map lookup by number and two increments. */
  record(status: number, seconds: number): void {
    let cell = this.#byCode.get(status);
    // Codes are the ones this server sends (its own replies, 100..599): a bounded set per route.
    if (!cell) this.#byCode.set(status, (cell = this.requests.cell(this.route, this.method, status >= 100 && status <= 599 ? String(status) : 'other')));
    cell.inc();
    this.duration.observe(seconds);
  }
}

/** Methods a request that matched no route is counted under; anything else from the wire is `other`. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

export type StoreOp = 'apply' | 'delete' | 'register' | 'renew' | 'deregister';

export interface ScrapeSources {
  watchStreams(): number;
  statsStreams(): number;
  services(): number;
  instances(): number;
  /** Stored resources by kind. */
  resources(): Map<string, number>;
}

export class ControlPlaneMetrics {
  readonly #requests = new CounterFamily('hyphae_control_plane_http_requests_total', 'Requests answered by the control plane API, by route template, method and status code.', [
    'route',
    'method',
    'code',
  ]);
  readonly #durations = new HistogramFamily(
    'hyphae_control_plane_http_request_duration_seconds',
    'Time from a request reaching the API to its answer (for a stream: to the stream being open), in seconds.',
    ['route', 'method'],
    HTTP_DURATION_BUCKETS,
  );
  readonly #routes = new Map<Route, RouteMetrics>();
  readonly #unmatched = new Map<string, RouteMetrics>();
  readonly #push = new HistogramFamily(
    'hyphae_control_plane_push_latency_seconds',
    'Time from a configuration or registry change reaching the control plane to the new snapshot written to the watchers of a service, in seconds.',
    [],
    PUSH_LATENCY_BUCKETS,
  );
  readonly #pushCell = this.#push.cell();
  readonly #issued = new CounterFamily('hyphae_control_plane_certificates_issued_total', 'Workload certificates signed.', []);
  readonly #issuedCell = this.#issued.cell();
  readonly #refused = new CounterFamily('hyphae_control_plane_certificates_refused_total', 'Certificate requests refused, by error code.', ['code']);
  readonly #storeDuration = new HistogramFamily(
    'hyphae_control_plane_store_operation_duration_seconds',
    'Duration of store operations (configuration writes; registry writes with the etcd store), in seconds.',
    ['store', 'op'],
    STORE_DURATION_BUCKETS,
  );
  readonly #storeErrors = new CounterFamily(
    'hyphae_control_plane_store_errors_total',
    'Store operations that failed: store unavailable, disk full, or an unexpected error (conflicts and quotas are answers, not failures).',
    ['store', 'op'],
  );
  readonly #process = processMetrics();
  readonly #families: Family[];

  constructor(sources: ScrapeSources) {
    this.#families = [
      this.#requests,
      this.#durations,
      readAtScrape('hyphae_control_plane_watch_streams', 'Open watch streams (GET /v1/watch).', () => sources.watchStreams()),
      readAtScrape('hyphae_control_plane_stats_streams', 'Open stats streams (GET /v1/stats/stream, the dashboard).', () => sources.statsStreams()),
      this.#push,
      readAtScrape('hyphae_control_plane_registry_services', 'Services in the registry (seen since start, with or without instances).', () => sources.services()),
      readAtScrape('hyphae_control_plane_registry_instances', 'Registered instances.', () => sources.instances()),
      new GaugeFamily('hyphae_control_plane_config_resources', 'Stored configuration resources, by kind.', ['kind'], () =>
        [...sources.resources()].map(([kind, value]) => ({ labels: [kind], value })),
      ),
      this.#issued,
      this.#refused,
      this.#storeDuration,
      this.#storeErrors,
      ...this.#process.families,
    ];
  }

  /** Made when the router is built, so a request finds its cells with one Map lookup by object. */
  addRoutes(routes: readonly Route[]): void {
    for (const r of routes) if (!this.#routes.has(r)) this.#routes.set(r, new RouteMetrics(this.#requests, this.#durations, r.path, r.method));
  }

  /** The cells of a matched route, or of `unmatched` (404, 405, and requests refused before routing). */
  route(route: Route | undefined, method: string | undefined): RouteMetrics {
    const known = route && this.#routes.get(route);
    if (known) return known;
    const m = method !== undefined && KNOWN_METHODS.has(method) ? method : 'other';
    let cells = this.#unmatched.get(m);
    if (!cells) this.#unmatched.set(m, (cells = new RouteMetrics(this.#requests, this.#durations, 'unmatched', m)));
    return cells;
  }

  pushed(seconds: number): void {
    this.#pushCell.observe(seconds);
  }

  certificateIssued(): void {
    this.#issuedCell.inc();
  }

  /** `code`: an HYPHAE_ERR_* code (a fixed set), or `internal` for anything else. */
  certificateRefused(code: string): void {
    this.#refused.cell(code).inc();
  }

  storeOperation(store: 'file' | 'etcd', op: StoreOp, seconds: number, failed: boolean): void {
    this.#storeDuration.cell(store, op).observe(seconds);
    if (failed) this.#storeErrors.cell(store, op).inc();
    else this.#storeErrors.cell(store, op);
  }

  render(): Promise<string> {
    return renderAll(this.#families);
  }

  close(): void {
    this.#process.close();
  }
}
