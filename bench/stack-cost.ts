/**
 * CPU per call of the client stack, in-process, no network: the real
 * MeshDispatcher and Destination (discovery from a StaticResolver, the
 * balancer, every layer src/client/stack.ts builds) over a fake pool that
 * answers each request on the next microtask (headers, one body chunk, end)
 * and honours the stack's pause/resume of the body, as undici's does.
 *
 * Variants, as in bench/client-stack.ts and the mesh's own default stack:
 * - skeleton: `balance -> transport`;
 * - full: a Route with a header rule and a catch-all, retries (2 attempts) with
 *   a budget, outlier detection, limits — no timeouts;
 * - full + timeouts: the same with request 2 s / per-try 1 s;
 * - mesh default: the stack a createMesh() destination gets (telemetry layers
 *   with no SDK, default retries, limits and outlier detection, no route).
 *
 * Each round runs every variant for `--calls` calls at `--concurrency`
 * closed loops, in interleaved order (forward, then reversed), and reports
 * process CPU (user + system) per call; the median round is printed. The
 * figure is the mesh's own work: undici's request/response machinery is not
 * in it (the dispatch API with a minimal handler), so it is the number to
 * compare builds with on a shared machine.
 *
 *   node build/bench/stack-cost.js [--rounds 7] [--calls 200000] [--concurrency 32] [--profile]
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Dispatcher, Pool } from 'undici';
import type { LegacyHandler } from '../src/client/call/legacy-handler.js';
import { Destination } from '../src/client/destination.js';
import { StaticResolver } from '../src/discovery/static-resolver.js';
import { configureStackTargets, stackDispatcher } from './lib/stack-config.js';
import { WatchCache } from '../src/discovery/watch-cache.js';
import { MeshTelemetry } from '../src/telemetry/mesh-telemetry.js';
import { median } from './lib/load.js';

const BODY = Buffer.from('{"ok":true,"path":"/items","n":1}');
const RAW_HEADERS = [Buffer.from('content-type'), Buffer.from('application/json'), Buffer.from('content-length'), Buffer.from(String(BODY.length))];

/** A stand-in for an undici Pool: answers on the next microtask, holds the body while the handler is paused. */
class FakePool {
  dispatch(_opts: Dispatcher.DispatchOptions, handler: LegacyHandler): boolean {
    handler.onConnect?.(() => {});
    queueMicrotask(() => {
      let resumed = false;
      const rest = () => {
        if (resumed) return;
        resumed = true;
        handler.onData?.(BODY);
        handler.onComplete?.(null);
      };
      const flowing = handler.onHeaders?.(200, RAW_HEADERS, () => queueMicrotask(rest), 'OK') ?? true;
      if (flowing) rest();
    });
    return true;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  destroy(): Promise<void> {
    return Promise.resolve();
  }
}

export interface StackCostRow {
  name: string;
  nsPerCall: number;
  rounds: number[];
}

export interface StackCostVariant {
  name: string;
  origin: string;
}

/** The destinations and dispatcher, and `run(origin, n)`: CPU ns per call of n calls (for A/B drivers that interleave builds). */
export async function setupStackCost(concurrency: number): Promise<{ variants: StackCostVariant[]; run: (origin: string, n: number) => Promise<number>; close: () => Promise<void> }> {
  const ep = [{ address: '127.0.0.1', port: 1 }];
  const resolver = new StaticResolver({ skeleton: ep, full: ep, timed: ep, mesh: ep });
  configureStackTargets(resolver);
  const cache = new WatchCache(resolver);
  const poolFactory = () => new FakePool() as unknown as Pool;
  const telemetry = new MeshTelemetry({ service: 'bench-client', namespace: 'default' });
  const dests = new Map<string, Destination>();
  for (const name of ['skeleton', 'full', 'timed']) dests.set(name, new Destination({ namespace: 'default', name }, { cache, poolFactory, discoveryTimeoutMs: 2_000 }));
  dests.set('mesh', new Destination({ namespace: 'default', name: 'mesh' }, { cache, poolFactory, discoveryTimeoutMs: 2_000, telemetry }));
  // 'skeleton' runs the walking skeleton's stack on the same destination machinery.
  const { dispatcher, passthrough } = stackDispatcher(dests);

  const one = (origin: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const handler: LegacyHandler = {
        onConnect() {},
        onHeaders() {
          return true;
        },
        onData() {
          return true;
        },
        onComplete() {
          resolve();
        },
        onError(err) {
          reject(err);
        },
      };
      dispatcher.dispatch({ origin, path: '/items', method: 'GET', headers: { accept: 'application/json' } }, handler as unknown as Dispatcher.DispatchHandler);
    });

  const run = async (origin: string, n: number): Promise<number> => {
    let left = n;
    const loop = async () => {
      while (left-- > 0) await one(origin);
    };
    const cpu0 = process.cpuUsage();
    await Promise.all(Array.from({ length: concurrency }, loop));
    const cpu = process.cpuUsage(cpu0);
    return ((cpu.user + cpu.system) * 1000) / n;
  };

  const variants = [
    { name: 'skeleton: balance -> transport', origin: 'http://skeleton' },
    { name: 'full client stack', origin: 'http://full' },
    { name: 'full stack + timeouts', origin: 'http://timed' },
    { name: 'mesh default (telemetry, no SDK)', origin: 'http://mesh' },
  ];
  const close = async () => {
    await Promise.all([...dests.values()].map((d) => d.close()));
    await cache.close();
    await passthrough.close();
  };
  return { variants, run, close };
}

export async function stackCost({ rounds, calls, concurrency }: { rounds: number; calls: number; concurrency: number }): Promise<StackCostRow[]> {
  const { variants, run, close } = await setupStackCost(concurrency);
  try {
    for (const v of variants) await run(v.origin, Math.min(calls, 50_000));
    const results = new Map<string, number[]>(variants.map((v) => [v.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const v of r % 2 ? [...variants].reverse() : variants) {
        const ns = await run(v.origin, calls);
        results.get(v.name)!.push(ns);
        process.stderr.write(`  round ${r + 1}/${rounds} ${v.name.padEnd(34)} ${ns.toFixed(0)} ns/call\n`);
      }
    }
    return variants.map((v) => ({ name: v.name, nsPerCall: median(results.get(v.name)!), rounds: results.get(v.name)! }));
  } finally {
    await close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '7' },
      calls: { type: 'string', default: '200000' },
      concurrency: { type: 'string', default: '32' },
    },
  });
  const rows = await stackCost({ rounds: Number(values.rounds), calls: Number(values.calls), concurrency: Number(values.concurrency) });
  const base = rows[0]!.nsPerCall;
  for (const r of rows) console.log(`${r.name.padEnd(36)} ${r.nsPerCall.toFixed(0).padStart(7)} ns/call  +${(r.nsPerCall - base).toFixed(0).padStart(5)} ns over the skeleton`);
}
