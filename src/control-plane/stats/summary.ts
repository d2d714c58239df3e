/**
 * The mesh at a glance, as the dashboard, `hyphae status`, `hyphae top` and
 * `hyphae describe` show it: services, instances (with what the stats say
 * about them), edges with rps / success / p99, routes, policies and warnings.
 * Built on read from the registry, the config store and the stats store.
 */
import { DEFAULT_ROUTE, OTHER_ROUTES } from '../../core/route-keys.js';
import { defaultRuleName, type AuthorizationPolicyResource, type RouteResource } from '../../config/resources.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import { serviceRows } from '../routes/status-routes.js';
import { LatencyArena } from './latency-arena.js';
import { drain, sortInSlices, type Sliced } from './sliced.js';
import type { ReporterState, RouteTraffic, StatsStore, Traffic } from './stats-store.js';

export interface TrafficView {
  rps: number;
  requests: number;
  errors: number;
  /** 0..1, null without requests. */
  successRate: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface CertificateView {
  spiffeId: string;
  notAfter: string;
  expiresInSeconds: number;
}

export interface InstanceView {
  id: string;
  service: string;
  namespace: string;
  address: string;
  port: number;
  labels: Record<string, string>;
  zone: string | null;
  version: string | null;
  weight: number;
  /** `reporting`: its process sends stats; `silent`: it did and stopped; `unknown`: no stats from it yet. */
  health: 'reporting' | 'silent' | 'unknown';
  /** Seconds since its process last reported. */
  lastReportSeconds: number | null;
  /** Callers whose outlier detection ejected it now, out of the callers that reported a view of it. */
  ejectedBy: number;
  observedBy: number;
  certificate: CertificateView | null;
  /** Requests it served (its process's servers together). */
  traffic: TrafficView;
}

export interface EdgeView extends TrafficView {
  /** `namespace/name`, or null for callers without a service name. */
  source: string | null;
  destination: string;
}

export interface ServiceView {
  namespace: string;
  name: string;
  instances: number;
  hasConfig: boolean;
  /** Requests its instances served. */
  traffic: TrafficView;
}

export interface RouteView {
  namespace: string;
  name: string;
  parents: string[];
  rules: { name: string; backends: string[] }[];
}

/**
 * One route rule's calls to a destination, every caller together (as `linkerd viz routes` shows them):
 * `route` is the Route's `namespace/name`, `[default]` for calls no Route steered, `[other]` for rules
 * past the cap a caller counts apart per destination.
 */
export interface RouteTrafficView extends TrafficView {
  /** `namespace/name` of the destination service. */
  destination: string;
  route: string;
  /** The rule's name (as `routes[].rules[].name`); null for `[default]` and `[other]`. */
  rule: string | null;
}

export interface PolicyView {
  namespace: string;
  name: string;
  action: string;
  selector: string | null;
  rules: number;
}

export type WarningKind = 'certificate-expiring' | 'certificate-expired' | 'config-rejected' | 'instance-silent' | 'no-instances' | 'edge-errors';

export interface Warning {
  kind: WarningKind;
  message: string;
  service?: string;
  instance?: string;
}

export interface MeshSummary {
  generatedAt: string;
  windowSeconds: number;
  controlPlane: { revision: number; services: number; instances: number; reporters: number };
  services: ServiceView[];
  instances: InstanceView[];
  edges: EdgeView[];
  /** Per route rule of each destination; sorted by destination, then routes, then `[default]`, `[other]`. */
  routeTraffic: RouteTrafficView[];
  routes: RouteView[];
  policies: PolicyView[];
  warnings: Warning[];
}

export interface SummaryDeps {
  registry: Registry;
  store: Store;
  stats: StatsStore;
  now?: () => number;
}

/** An edge or service whose success rate is below this, with enough requests, is a warning. */
const EDGE_SUCCESS_WARNING = 0.95;
const EDGE_MIN_REQUESTS = 10;

export function trafficView(t: Traffic | undefined): TrafficView {
  if (!t || t.requests === 0) return { rps: 0, requests: 0, errors: 0, successRate: null, p50Ms: null, p99Ms: null };
  const [p50, p99] = t.latency.quantiles(0.5, 0.99) as [number, number];
  return {
    rps: round(t.rps, 2),
    requests: t.requests,
    errors: t.errors,
    successRate: round(1 - t.errors / t.requests, 4),
    p50Ms: round(p50, 3),
    p99Ms: round(p99, 3),
  };
}

export function buildSummary(deps: SummaryDeps, windowMs: number): MeshSummary {
  return drain(summarySteps(deps, windowMs));
}

/**
 * buildSummary, yielding now and then (see ./sliced.ts): with the stats store
 * full it reads half a million entries and lists tens of thousands of edges.
 */
export function* summarySteps(deps: SummaryDeps, windowMs: number): Sliced<MeshSummary> {
  const arena = LatencyArena.acquire();
  try {
    return yield* summaryOf(deps, windowMs, arena);
  } finally {
    arena.release();
  }
}

function* summaryOf({ registry, store, stats, now = Date.now }: SummaryDeps, windowMs: number, arena: LatencyArena): Sliced<MeshSummary> {
  const at = now();
  const reporters = stats.reporters();
  const warnings: Warning[] = [];

  // Which reporter serves which instance, and what callers say about each endpoint.
  const byInstance = new Map<string, ReporterState>();
  for (const r of reporters) for (const id of r.instances) byInstance.set(`${r.namespace}/${r.service ?? ''}/${id}`, r);
  const views = new Map<string, { ejected: number; observed: number }>();
  for (const r of reporters) {
    if (!stats.live(r, at)) continue;
    for (const e of r.endpoints) {
      const key = `${e.namespace}/${e.service}/${e.id}`;
      const v = views.get(key) ?? { ejected: 0, observed: 0 };
      v.observed++;
      if (e.state === 'ejected') v.ejected++;
      views.set(key, v);
    }
  }

  const serviceTraffic = yield* stats.servedInSlices(windowMs, arena);
  const listed = registry
    .list()
    .map((inst) => ({ key: `${inst.namespace}/${inst.service}/${inst.id}`, inst }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const instances: InstanceView[] = [];
  for (const { key, inst } of listed) {
    const r = byInstance.get(key);
    const live = r !== undefined && stats.live(r, at);
    const traffic = r ? stats.inbound(r, windowMs, arena) : undefined;
    const cert = r?.certificate;
    let certificate: CertificateView | null = null;
    if (cert) {
      const notAfter = Date.parse(cert.notAfter);
      const lifetime = notAfter - Date.parse(cert.notBefore);
      certificate = { spiffeId: cert.spiffeId, notAfter: cert.notAfter, expiresInSeconds: Math.round((notAfter - at) / 1000) };
      if (notAfter <= at) {
        warnings.push({ kind: 'certificate-expired', message: `certificate of ${inst.service} ${inst.id} expired at ${cert.notAfter}`, service: inst.service, instance: inst.id });
      } else if (notAfter - at < lifetime / 4) {
        // Renewal is due at half-life; a quarter left means it has failed for a while.
        warnings.push({
          kind: 'certificate-expiring',
          message: `certificate of ${inst.service} ${inst.id} expires in ${formatSeconds((notAfter - at) / 1000)} (renewal overdue)`,
          service: inst.service,
          instance: inst.id,
        });
      }
    }
    if (r && !live) {
      warnings.push({
        kind: 'instance-silent',
        message: `${inst.service} ${inst.id} is registered but its process stopped reporting ${formatSeconds((at - r.lastAt) / 1000)} ago`,
        service: inst.service,
        instance: inst.id,
      });
    }
    const v = views.get(key);
    instances.push({
      id: inst.id,
      service: inst.service,
      namespace: inst.namespace,
      address: inst.address,
      port: inst.port,
      labels: inst.labels,
      zone: inst.labels.zone ?? inst.labels['topology.kubernetes.io/zone'] ?? null,
      version: inst.labels.version ?? null,
      weight: inst.weight,
      health: r === undefined ? 'unknown' : live ? 'reporting' : 'silent',
      lastReportSeconds: r ? round((at - r.lastAt) / 1000, 1) : null,
      ejectedBy: v?.ejected ?? 0,
      observedBy: v?.observed ?? 0,
      certificate,
      traffic: trafficView(traffic),
    });
    // After each one: its figures read every report of its process in the window.
    yield;
  }

  // serviceRows reads only the registry and the store of its deps.
  const rows = serviceRows({ registry, store } as Parameters<typeof serviceRows>[0]);
  const services: ServiceView[] = [];
  for (const row of rows) {
    services.push({ ...row, traffic: trafficView(serviceTraffic.get(`${row.namespace}/${row.name}`)) });
    if (row.instances === 0 && row.hasConfig) warnings.push({ kind: 'no-instances', message: `${row.namespace}/${row.name} is configured but has no instance`, service: row.name });
    yield;
  }

  const keyed: { key: string; view: EdgeView }[] = [];
  const perRoute: RouteTraffic[] = [];
  for (const e of yield* stats.edgesInSlices(windowMs, arena, perRoute)) {
    keyed.push({ key: `${e.source ?? ''}>${e.destination}`, view: { source: e.source ?? null, destination: e.destination, ...trafficView(e) } });
    yield;
  }
  // On keys made once, not per comparison, and in slices: a full store holds tens of thousands of edges.
  const edges = (yield* sortInSlices(keyed, (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))).map((e) => e.view);
  const routeKeyed: { key: string; view: RouteTrafficView }[] = [];
  for (const r of perRoute) {
    // The two buckets sort after the destination's routes ("~" after any name character).
    const bucket = r.route === DEFAULT_ROUTE ? '~1' : r.route === OTHER_ROUTES ? '~2' : r.route;
    routeKeyed.push({ key: `${r.destination} ${bucket} ${r.rule ?? ''}`, view: { destination: r.destination, route: r.route, rule: r.rule ?? null, ...trafficView(r) } });
    yield;
  }
  const routeTraffic = (yield* sortInSlices(routeKeyed, (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))).map((r) => r.view);
  for (const e of edges) {
    if (e.requests >= EDGE_MIN_REQUESTS && e.successRate !== null && e.successRate < EDGE_SUCCESS_WARNING) {
      warnings.push({ kind: 'edge-errors', message: `${e.source ?? '(clients)'} -> ${e.destination}: ${(e.successRate * 100).toFixed(1)}% success over ${windowMs / 1000}s` });
    }
  }
  for (const r of reporters) {
    for (const c of r.configErrors) {
      warnings.push({ kind: 'config-rejected', message: `${r.service ?? 'a client'} refused the configuration of ${c.service}: ${c.message}`, service: c.service });
    }
  }

  const routes: RouteView[] = store.list('Route').map(({ resource }) => {
    const r = resource as RouteResource;
    const ns = r.metadata.namespace;
    return {
      namespace: ns,
      name: r.metadata.name,
      // A Gateway parent keeps its kind, so `describe service` never lists a gateway's routes as a same-named service's.
      parents: r.spec.parentRefs.map((p) => `${p.kind === 'Gateway' ? 'Gateway/' : ''}${p.namespace ?? ns}/${p.name}`),
      rules: r.spec.rules.map((rule, i) => ({
        // The client's name for it: what the per-route traffic (routeTraffic) is keyed by.
        name: rule.name ?? defaultRuleName(r.metadata.name, i),
        backends: rule.backendRefs.map((b) => `${b.name}${b.subset ? `:${b.subset}` : ''} (${b.weight})`),
      })),
    };
  });
  const policies: PolicyView[] = store.list('AuthorizationPolicy').map(({ resource }) => {
    const p = resource as AuthorizationPolicyResource;
    return { namespace: p.metadata.namespace, name: p.metadata.name, action: p.spec.action, selector: p.spec.selector?.service ?? null, rules: p.spec.rules.length };
  });

  return {
    generatedAt: new Date(at).toISOString(),
    windowSeconds: windowMs / 1000,
    controlPlane: { revision: store.revision(), services: services.length, instances: registry.size, reporters: reporters.filter((r) => stats.live(r, at)).length },
    services,
    instances,
    edges,
    routeTraffic,
    routes,
    policies,
    warnings,
  };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function formatSeconds(s: number): string {
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}
