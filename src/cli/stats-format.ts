/** Shared by `hyphae status`, `top` and `describe`: fetching the summary and printing figures as tables. */
import type { MeshSummary } from '../control-plane/stats/summary.js';
import { ApiClient, describeApiError } from './api-client.js';

export type { MeshSummary };

export async function fetchSummary(client: ApiClient, windowSeconds: number): Promise<MeshSummary> {
  const res = await client.call<MeshSummary>('GET', `/v1/stats/summary?window=${windowSeconds}`);
  if (res.status !== 200) throw new Error(describeApiError(res.status, res.body));
  return res.body as MeshSummary;
}

export const pct = (r: number | null): string => (r === null ? '-' : `${(r * 100).toFixed(r === 1 ? 0 : 1)}%`);
export const ms = (v: number | null): string => (v === null ? '-' : v < 10 ? `${v.toFixed(2)}ms` : `${v.toFixed(0)}ms`);
export const rps = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
/** `default/api` is shown as `api`; other namespaces stay qualified. */
export const short = (ref: string | null): string => (ref === null ? '(clients)' : ref.startsWith('default/') ? ref.slice(8) : ref);

/** A plain aligned table (two spaces between columns), as kubectl and linkerd print them. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function edgeTable(edges: MeshSummary['edges']): string {
  if (edges.length === 0) return 'No traffic reported in this window.';
  return table(
    ['SOURCE', 'DESTINATION', 'RPS', 'SUCCESS', 'P50', 'P99', 'REQUESTS'],
    edges.map((e) => [short(e.source), short(e.destination), rps(e.rps), pct(e.successRate), ms(e.p50Ms), ms(e.p99Ms), String(e.requests)]),
  );
}

export const commonFlagsUsage = `  --window <seconds>     stats window: 10, 30 or 60 (1-60, rounded up; default 10)
  --json                 print JSON instead of tables`;
