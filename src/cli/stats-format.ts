/** Shared by `hyphae status`, `top` and `describe`: fetching the summary and printing figures as tables. */
import { DEFAULT_ROUTE, OTHER_ROUTES } from '../core/route-keys.js';
import type { MeshSummary, RouteTrafficView } from '../control-plane/stats/summary.js';
import { ApiClient, describeApiError } from './api-client.js';
import { table } from './output.js';

export type { MeshSummary, RouteTrafficView };

/** The summary, and the cluster of the control plane that made it (its `hyphae-cluster` header) when it names one. */
export type ClusterSummary = MeshSummary & { cluster?: string };

export async function fetchSummary(client: ApiClient, windowSeconds: number): Promise<ClusterSummary> {
  const res = await client.call<MeshSummary>('GET', `/v1/stats/summary?window=${windowSeconds}`);
  if (res.status !== 200) throw new Error(describeApiError(res.status, res.body));
  const summary = res.body as MeshSummary;
  return res.cluster === undefined ? summary : { ...summary, cluster: res.cluster };
}

/**
 * The cluster an instance runs in, as the views show it: an imported instance's own, else that of the
 * control plane that lists it; `-` when neither is known (a control plane that predates clusters).
 */
export function clusterOf(instance: { readonly id: string; readonly cluster?: string | undefined }, local: string | undefined): string {
  return instance.cluster ?? local ?? '-';
}

export const pct = (r: number | null): string => (r === null ? '-' : `${(r * 100).toFixed(r === 1 ? 0 : 1)}%`);
export const ms = (v: number | null): string => (v === null ? '-' : v < 10 ? `${v.toFixed(2)}ms` : `${v.toFixed(0)}ms`);
export const rps = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
/** `default/api` is shown as `api`; other namespaces stay qualified. */
export const short = (ref: string | null): string => (ref === null ? '(clients)' : ref.startsWith('default/') ? ref.slice(8) : ref);

/** output.ts's table with linkerd's two spaces, and no newline at the end (the views indent and join them). */
export function statsTable(header: string[], rows: string[][]): string {
  return table(header, rows, 2).slice(0, -1);
}

export function edgeTable(edges: MeshSummary['edges'], wide = false): string {
  if (edges.length === 0) return 'No traffic reported in this window.';
  return statsTable(
    ['SOURCE', 'DESTINATION', 'RPS', 'SUCCESS', 'P50', 'P99', 'REQUESTS', ...(wide ? ['ERRORS'] : [])],
    edges.map((e) => [short(e.source), short(e.destination), rps(e.rps), pct(e.successRate), ms(e.p50Ms), ms(e.p99Ms), String(e.requests), ...(wide ? [String(e.errors)] : [])]),
  );
}

/**
 * Per route rule of the destinations in `summary` that `keep` selects, as `linkerd viz routes` lists
 * them: every rule of the Routes whose parent is the destination, with or without traffic, then
 * `[default]` (calls no Route steered) and `[other]` (rules past a caller's cap) when they had any.
 */
export function routeRows(summary: MeshSummary, keep: (destination: string) => boolean): RouteTrafficView[] {
  const rows: RouteTrafficView[] = [];
  const counted = new Map(summary.routeTraffic.map((r) => [`${r.destination} ${r.route} ${r.rule ?? ''}`, r]));
  const destinations = new Set(summary.routeTraffic.map((r) => r.destination));
  // Every parent, a Gateway (`Gateway/ns/name`, the gateway's per-rule counts) as a Service.
  for (const route of summary.routes) for (const parent of route.parents) destinations.add(parent);
  for (const destination of [...destinations].filter(keep).sort()) {
    for (const route of summary.routes) {
      if (!route.parents.includes(destination)) continue;
      const key = `${route.namespace}/${route.name}`;
      for (const rule of route.rules) {
        const seen = counted.get(`${destination} ${key} ${rule.name}`);
        counted.delete(`${destination} ${key} ${rule.name}`);
        rows.push(seen ?? { destination, route: key, rule: rule.name, rps: 0, requests: 0, errors: 0, successRate: null, p50Ms: null, p99Ms: null });
      }
    }
    // What is left, in the summary's order: rules of routes changed or deleted since (still in the
    // window), then [default] and [other].
    rows.push(...summary.routeTraffic.filter((r) => r.destination === destination && counted.has(`${r.destination} ${r.route} ${r.rule ?? ''}`)));
  }
  return rows;
}

export function routeTable(rows: readonly RouteTrafficView[], wide = false, withService = true): string {
  if (rows.length === 0) return 'No routes and no traffic in this window.';
  return statsTable(
    [...(withService ? ['SERVICE'] : []), 'ROUTE', 'RULE', 'RPS', 'SUCCESS', 'P50', 'P99', 'REQUESTS', ...(wide ? ['ERRORS'] : [])],
    rows.map((r) => [
      ...(withService ? [short(r.destination)] : []),
      r.route === DEFAULT_ROUTE || r.route === OTHER_ROUTES ? r.route : short(r.route),
      r.rule ?? '-',
      rps(r.rps),
      pct(r.successRate),
      ms(r.p50Ms),
      ms(r.p99Ms),
      String(r.requests),
      ...(wide ? [String(r.errors)] : []),
    ]),
  );
}

export const commonFlagsUsage = `  --window <seconds>     stats window: 10, 30 or 60 (1-60, rounded up; default 10)`;
