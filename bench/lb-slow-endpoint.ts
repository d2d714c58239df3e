/**
 * Issue 4's balancer benchmark: 5 instances, one answering 20 ms slower; the
 * caller's p50/p99 under round_robin, least_request and peak_ewma, in one run,
 * next to the same load on 5 healthy instances (peak_ewma). Each balancer has
 * its own destination (its own latency estimates), all fed by one
 * StaticResolver; rounds are interleaved so machine drift hits them alike.
 *
 * The load is open-loop at a fixed rate, as callers arrive in production: a
 * closed loop saturating this process would measure its own event loop (every
 * sample inflated alike), and would hide the slow answers it waits for
 * (coordinated omission).
 */
import path from 'node:path';
import { createMesh } from '../src/index.js';
import { StaticResolver } from '../src/extend.js';
import type { LoadBalancerName } from '../src/config/resources.js';
import { buildDir, startNode, type Child } from '../examples/lib/child.js';
import { median, runOpenLoop, type LoadResult } from './lib/load.js';

export interface LbOptions {
  durationMs: number;
  rounds: number;
  /** Requests per second, open loop. */
  rate: number;
}

export interface LbRow {
  name: string;
  balancer: LoadBalancerName;
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** Share of requests the slow instance answered. */
  slowShare: number;
}

const SLOW_MS = 20;

async function echo(delayMs: number): Promise<{ child: Child; port: number }> {
  const child = startNode(path.join(buildDir, 'bench/lib/echo-server.js'), [], { DELAY_MS: String(delayMs) });
  return { child, port: Number((await child.waitFor(/listening (\d+)/))[1]) };
}

export async function lbSlowEndpoint({ durationMs, rounds, rate }: LbOptions): Promise<LbRow[]> {
  const servers = await Promise.all([0, 0, 0, 0, 0, SLOW_MS].map(echo));
  const fast = servers.slice(0, 5).map((s) => ({ address: '127.0.0.1', port: s.port }));
  const slow = { address: '127.0.0.1', port: servers[5]!.port };
  const withSlow = [...fast.slice(0, 4), slow];
  const targets: { name: string; service: string; balancer: LoadBalancerName; endpoints: typeof fast }[] = [
    { name: 'all healthy, peak_ewma', service: 'healthy', balancer: 'peak_ewma', endpoints: fast },
    { name: 'one slow, round_robin', service: 'rr', balancer: 'round_robin', endpoints: withSlow },
    { name: 'one slow, least_request', service: 'lr', balancer: 'least_request', endpoints: withSlow },
    { name: 'one slow, peak_ewma', service: 'pe', balancer: 'peak_ewma', endpoints: withSlow },
  ];
  const resolver = new StaticResolver(Object.fromEntries(targets.map((t) => [t.service, t.endpoints])));
  for (const t of targets) resolver.configure(t.service, { config: { loadBalancer: t.balancer } });
  const mesh = await createMesh({ resolver });
  const slowHits = new Map<string, number>(targets.map((t) => [t.name, 0]));
  const totals = new Map<string, number>(targets.map((t) => [t.name, 0]));
  try {
    const send = (t: (typeof targets)[number], count: boolean) => async () => {
      const r = await mesh.request(`http://${t.service}/`);
      await r.body.dump();
      if (!count) return;
      totals.set(t.name, totals.get(t.name)! + 1);
      if (r.headers['x-delayed-ms'] !== undefined) slowHits.set(t.name, slowHits.get(t.name)! + 1);
    };
    // Warm up connections, JIT and every latency estimate.
    for (const t of targets) await runOpenLoop(send(t, false), { rate, durationMs: Math.min(2000, durationMs) });
    const results = new Map<string, LoadResult[]>(targets.map((t) => [t.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const t of r % 2 ? [...targets].reverse() : targets) {
        const res = await runOpenLoop(send(t, true), { rate, durationMs });
        results.get(t.name)!.push(res);
        process.stderr.write(`  round ${r + 1}/${rounds} ${t.name.padEnd(26)} p50 ${res.p50ms.toFixed(2)} ms  p99 ${res.p99ms.toFixed(2)} ms\n`);
      }
    }
    return targets.map((t) => {
      const rs = results.get(t.name)!;
      return {
        name: t.name,
        balancer: t.balancer,
        rps: median(rs.map((x) => x.rps)),
        p50ms: median(rs.map((x) => x.p50ms)),
        p99ms: median(rs.map((x) => x.p99ms)),
        errors: rs.reduce((s, x) => s + x.errors, 0),
        slowShare: slowHits.get(t.name)! / Math.max(1, totals.get(t.name)!),
      };
    });
  } finally {
    await mesh.close();
    await Promise.all(servers.map((s) => s.child.kill()));
  }
}
