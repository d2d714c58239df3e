/**
 * A small mesh with live traffic for the observability tests: a control
 * plane, db (two instances in zones a and b; b fails a fifth of its
 * requests), api (calls db), web (calls api, exposes Prometheus metrics) and a
 * load generator calling web — every one a real process from
 * examples/telemetry, reporting stats to the control plane.
 */
import path from 'node:path';
import { buildDir, startNode, type Child } from './process.js';
import { call, startControlPlane, type RunningControlPlane } from './control-plane.js';
import type { MeshSummary } from '../../src/control-plane/stats/summary.js';

export interface Topology {
  cp: RunningControlPlane;
  procs: Map<string, { child: Child; instance?: string; metricsPort?: number }>;
  summary(windowSeconds?: number): Promise<MeshSummary>;
  /** Poll the summary until `pred` holds. */
  waitFor(pred: (s: MeshSummary) => boolean, timeoutMs?: number): Promise<MeshSummary>;
  stop(): Promise<void>;
}

const script = path.join(buildDir, 'examples/telemetry/service.js');

export async function startTopology({ rps = 15 }: { rps?: number } = {}): Promise<Topology> {
  // A short lease: a killed instance leaves the registry within 2 s.
  // Insecure: the scenario is about telemetry (child processes configured by HYPHAE_CONTROL_PLANE alone, a
  // browser on the dashboard); mTLS and tokens have their own tests.
  const cp = await startControlPlane({ ttlSeconds: 2, insecure: true });
  const procs: Topology['procs'] = new Map();
  const start = async (name: string, env: Record<string, string>) => {
    const child = startNode(script, [], { HYPHAE_CONTROL_PLANE: cp.url, STATS_INTERVAL_MS: '500', TTL: '2', ...env });
    procs.set(name, { child });
    const m = await child.waitFor(/^ready service=\S+(?: instance=(\S+) metrics=(\S+))?/, 15_000);
    const entry = procs.get(name)!;
    if (m[1]) entry.instance = m[1];
    if (m[2] && m[2] !== '-') entry.metricsPort = Number(m[2]);
  };
  try {
    await Promise.all([
      start('db-a', { SERVICE: 'db', ZONE: 'a', VERSION: 'v1' }),
      start('db-b', { SERVICE: 'db', ZONE: 'b', VERSION: 'v2', FAIL_RATE: '0.2' }),
      start('api', { SERVICE: 'api', CALLS: 'db' }),
      start('web', { SERVICE: 'web', ZONE: 'a', CALLS: 'api', METRICS_PORT: '0' }),
    ]);
    await start('loadgen', { LOAD: 'web', RPS: String(rps) });
    // After the instances: the control plane refuses a route to subsets no instance carries yet.
    // Configuration the views show (phase 1: stored and displayed; routing and authorization act on it in their own work).
    const applied = await call(cp.url, 'PUT', '/v1/resources', {
      items: [
        { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'db' }, spec: { loadBalancer: 'round_robin', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] } },
        {
          apiVersion: 'hyphae.dev/v1',
          kind: 'Route',
          metadata: { name: 'db-canary' },
          spec: { parentRefs: [{ name: 'db' }], rules: [{ name: 'db-split', backendRefs: [{ name: 'db', subset: 'v1', weight: 90 }, { name: 'db', subset: 'v2', weight: 10 }] }] },
        },
        {
          apiVersion: 'hyphae.dev/v1',
          kind: 'AuthorizationPolicy',
          metadata: { name: 'db-from-api' },
          spec: { selector: { service: 'db' }, action: 'ALLOW', rules: [{ from: { principals: ['spiffe://hyphae.local/ns/default/sa/api'] } }] },
        },
      ],
    });
    if (applied.status !== 200) throw new Error(`applying the demo resources answered ${applied.status}: ${applied.text}`);
  } catch (err) {
    await Promise.all([...procs.values()].map((p) => p.child.kill('SIGKILL')));
    await cp.stop();
    throw err;
  }
  const summary = async (windowSeconds = 10) => {
    const res = await call<MeshSummary>(cp.url, 'GET', `/v1/stats/summary?window=${windowSeconds}`);
    if (res.status !== 200) throw new Error(`summary answered ${res.status}: ${res.text}`);
    return res.body;
  };
  return {
    cp,
    procs,
    summary,
    async waitFor(pred, timeoutMs = 15_000) {
      const started = Date.now();
      let last: MeshSummary | undefined;
      while (Date.now() - started < timeoutMs) {
        last = await summary();
        if (pred(last)) return last;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`summary did not reach the expected state within ${timeoutMs} ms; last:\n${JSON.stringify(last, null, 1)}`);
    },
    async stop() {
      await Promise.all([...procs.values()].map((p) => p.child.kill('SIGTERM')));
      await cp.stop();
    },
  };
}

export const edge = (s: MeshSummary, from: string, to: string) => s.edges.find((e) => e.source === `default/${from}` && e.destination === `default/${to}`);

/** Every edge of the chain carries traffic, with enough requests for its figures to mean something. */
export function trafficFlows(s: MeshSummary): boolean {
  return [edge(s, 'loadgen', 'web'), edge(s, 'web', 'api'), edge(s, 'api', 'db')].every((e) => e !== undefined && e.requests >= 20);
}
