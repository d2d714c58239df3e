/**
 * The full client stack against the walking skeleton's, same run (issue 5,
 * must-show 8): what routing, deadlines, the concurrency limit, retries with
 * their budget, per-try timeouts and outlier detection cost when nothing
 * fails. Target: <= 10 % fewer requests per second.
 *
 * Both go through the real MeshDispatcher and a real Destination (discovery
 * from a StaticResolver, peak_ewma over one endpoint's undici pool) to the
 * bench echo server in its own process:
 *
 * - skeleton: `balance -> transport` (the walking skeleton's stack);
 * - full: the stack src/client/stack.ts builds — route (a Route with a header
 *   rule and a catch-all, evaluated on every request) -> deadline -> limit ->
 *   retry (2 attempts, budget) -> perTry -> balance -> outlier -> transport,
 *   with the Service's retries, retryBudget, outlierDetection and limits set;
 * - full + timeouts: the same with `timeouts: { request: 2s, perTry: 1s }`
 *   (one timer per call, the deadline header on every attempt).
 *
 * Rounds interleaved (skeleton, full, full + timeouts, then reversed), median.
 *
 *   node build/bench/client-stack.js [--rounds 5] [--duration 3000] [--concurrency 32]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Dispatcher } from 'undici';
import { Destination } from '../src/client/destination.js';
import { StaticResolver } from '../src/discovery/static-resolver.js';
import { configureStackTargets, stackDispatcher } from './lib/stack-config.js';
import { WatchCache } from '../src/discovery/watch-cache.js';
import { buildDir, startNode } from '../examples/lib/child.js';
import { interleavedRounds, median } from './lib/load.js';
import type { Row } from './overhead.js';

export interface ClientStackOptions {
  durationMs: number;
  rounds: number;
  concurrency: number;
}

export async function clientStack({ durationMs, rounds, concurrency }: ClientStackOptions): Promise<Row[]> {
  const server = startNode(path.join(buildDir, 'bench/lib/echo-server.js'));
  const port = Number((await server.waitFor(/listening (\d+)/))[1]);
  const ep = [{ address: '127.0.0.1', port }];
  const resolver = new StaticResolver({ skeleton: ep, full: ep, timed: ep });
  configureStackTargets(resolver);
  const cache = new WatchCache(resolver);
  const dests = new Map<string, Destination>();
  for (const name of ['skeleton', 'full', 'timed']) dests.set(name, new Destination({ namespace: 'default', name }, { cache, discoveryTimeoutMs: 2_000 }));
  // 'skeleton' runs the walking skeleton's stack on the same destination machinery.
  const { dispatcher, passthrough } = stackDispatcher(dests);
  const send = (d: Dispatcher, origin: string) => async () => {
    const r = await d.request({ origin, path: '/items', method: 'GET' });
    await r.body.dump();
  };
  const targets: { name: string; baseline?: string; send: () => Promise<void> }[] = [
    { name: 'skeleton: balance -> transport', send: send(dispatcher, 'http://skeleton') },
    { name: 'full client stack', baseline: 'skeleton: balance -> transport', send: send(dispatcher, 'http://full') },
    { name: 'full stack + timeouts', baseline: 'skeleton: balance -> transport', send: send(dispatcher, 'http://timed') },
  ];
  try {
    const results = await interleavedRounds(targets, { concurrency, durationMs, rounds }, (t, res) => {
      if (res.errors > 0) throw new Error(`${res.errors} errors in ${t.name}: the comparison is for a stack with no failures`);
    });
    return targets.map((t) => {
      const rs = results.get(t.name)!;
      const byRps = [...rs].sort((a, b) => a.rps - b.rps);
      const mid = byRps[Math.floor(byRps.length / 2)]!;
      return {
        name: t.name,
        ...(t.baseline ? { baseline: t.baseline } : {}),
        rps: median(rs.map((x) => x.rps)),
        p50ms: mid.p50ms,
        p99ms: mid.p99ms,
        errors: 0,
        cpuUsPerRequest: median(rs.map((x) => x.cpuUsPerRequest)),
      };
    });
  } finally {
    await Promise.all([...dests.values()].map((d) => d.close()));
    await cache.close();
    await passthrough.close();
    await server.kill();
  }
}

// Run on its own: node build/bench/client-stack.js
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { rounds: { type: 'string', default: '5' }, duration: { type: 'string', default: '3000' }, concurrency: { type: 'string', default: '32' } },
  });
  const rows = await clientStack({ rounds: Number(values.rounds), durationMs: Number(values.duration), concurrency: Number(values.concurrency) });
  const base = rows[0]!.rps;
  for (const r of rows)
    console.log(
      `${r.name.padEnd(34)} ${r.rps.toFixed(0).padStart(8)} req/s  p50 ${r.p50ms.toFixed(3)} ms  p99 ${r.p99ms.toFixed(3)} ms  ${(r.rps / base).toFixed(3)}x  ${r.cpuUsPerRequest!.toFixed(2)} cpu µs/req`,
    );
}
