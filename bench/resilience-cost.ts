/**
 * What the resilience layers cost, with no failures.
 *
 * 1. Per call, in-process with no network (the layers' own work): the stack
 *    deadline -> limit -> retry -> perTry -> pick -> outlier around a terminal
 *    that answers at once through a real Attempt, against pick -> terminal.
 * 2. Throughput over loopback: the same layers composed over a real
 *    Destination, balancer and undici pool (test-style harness) against the
 *    bare harness, to the bench echo server, interleaved rounds, median.
 *
 *   node build/bench/resilience-cost.js [--rounds 5] [--duration 3000] [--concurrency 32]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, type Dispatcher } from 'undici';
import { Attempt } from '../src/client/endpoint/attempt.js';
import { balance } from '../src/client/concrete/balance.js';
import { MeshCall } from '../src/client/call/mesh-call.js';
import { Destination } from '../src/client/destination.js';
import { MeshDispatcher } from '../src/client/dispatcher.js';
import { Endpoint } from '../src/client/endpoint/endpoint.js';
import { concurrencyLimit } from '../src/client/logical/concurrency-limit.js';
import { compileRetryPolicy, concurrencyLimitOptions, outlierDetectionOptions, retryBudgetOptions } from '../src/client/logical/policy.js';
import { resolveServiceSpec } from '../src/config/resources.js';
import { deadline, perTryTimeout, type CallTimeouts } from '../src/client/logical/deadline.js';
import { outlierDetection } from '../src/client/endpoint/outlier.js';
import { retry } from '../src/client/logical/retry.js';
import { transport } from '../src/client/endpoint/transport.js';
import { compose, type Filter, type Handler } from '../src/core/filter.js';
import { StaticResolver } from '../src/discovery/static-resolver.js';
import { WatchCache } from '../src/discovery/watch-cache.js';
import { ConcurrencyLimiter } from '../src/resilience/concurrency-limiter.js';
import { OutlierDetector } from '../src/resilience/outlier-detector.js';
import { RequestContext, runInRequestContext } from '../src/resilience/request-context.js';
import { RetryBudget } from '../src/resilience/retry-budget.js';
import { buildDir, startNode } from '../examples/lib/child.js';
import { median, runLoad } from './lib/load.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
  },
});
const rounds = Number(values.rounds);
const durationMs = Number(values.duration);
const concurrency = Number(values.concurrency);

function resilienceLayers(size: () => number, timeouts: CallTimeouts | undefined): { above: Filter<MeshCall, Attempt>[]; below: Filter<MeshCall, Attempt>[] } {
  // The mechanisms as a destination with no Service resource builds them (the schema's defaults).
  const spec = resolveServiceSpec(null);
  const policy = compileRetryPolicy(undefined, spec.retries);
  const outlier = outlierDetectionOptions(spec.outlierDetection);
  if (outlier === undefined) throw new Error('outlier detection is on by default');
  return {
    above: [
      deadline({ timeouts: () => timeouts }),
      concurrencyLimit(new ConcurrencyLimiter(concurrencyLimitOptions(spec.limits))),
      retry({ policy: () => policy, budget: new RetryBudget(retryBudgetOptions(spec.retryBudget)) }),
      perTryTimeout(),
    ],
    below: [outlierDetection(new OutlierDetector(outlier, size))],
  };
}

// ---------------------------------------------------------------- 1. per call, in-process

async function perCall(): Promise<void> {
  const dest = { name: 'api', namespace: 'default' };
  const ep = new Endpoint({ id: '127.0.0.1:1', address: '127.0.0.1', port: 1, labels: {}, weight: 1 });
  const pick: Filter<MeshCall, Attempt> = (next) => (call) => {
    call.endpoint = ep;
    return next(call);
  };
  const noop = () => {};
  const terminal: Handler<MeshCall, Attempt> = (call) => {
    const a = new Attempt(call, call.endpoint!);
    a.onConnect(noop);
    a.onHeaders(200, [], noop, 'OK');
    a.onComplete(null);
    return a.promise;
  };
  const handler = {};
  const opts = { origin: 'http://api', path: '/items', method: 'GET' as const, headers: { accept: 'application/json' } };
  const modes: { name: string; handle: Handler<MeshCall, Attempt>; ctx?: RequestContext }[] = [];
  modes.push({ name: 'baseline (pick -> terminal)', handle: compose([pick], terminal) });
  for (const [name, timeouts, inbound] of [
    ['resilience, no timeouts', undefined, false],
    ['resilience, request + perTry timeouts', { requestMs: 2_000, perTryMs: 500 }, false],
    ['resilience, inside an inbound request with a deadline', undefined, true],
  ] as const) {
    const { above, below } = resilienceLayers(() => 1, timeouts);
    modes.push({ name, handle: compose([...above, pick, ...below], terminal), ...(inbound ? {} : {}) });
    if (inbound) modes.at(-1)!.ctx = new RequestContext(performance.now() + 3_600_000);
  }
  const round = async (handle: Handler<MeshCall, Attempt>, n: number) => {
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const call = new MeshCall(dest, opts, handler);
      const a = await handle(call);
      a.deliver();
    }
    return ((performance.now() - started) * 1e6) / n;
  };
  const n = 200_000;
  const results = new Map<string, number[]>(modes.map((m) => [m.name, []]));
  for (const m of modes) await (m.ctx ? runInRequestContext(m.ctx, round, m.handle, n) : round(m.handle, n));
  for (let r = 0; r < rounds; r++) {
    for (const m of modes) results.get(m.name)!.push(await (m.ctx ? runInRequestContext(m.ctx, round, m.handle, n) : round(m.handle, n)));
  }
  const base = median(results.get(modes[0]!.name)!);
  console.log(`per call, in-process (median of ${rounds} rounds of ${n})`);
  for (const m of modes) {
    const ns = median(results.get(m.name)!);
    console.log(`  ${m.name.padEnd(56)} ${ns.toFixed(0).padStart(6)} ns   +${(ns - base).toFixed(0)} ns`);
  }
}

// ---------------------------------------------------------------- 2. loopback throughput

async function harness(port: number, withResilience: boolean): Promise<{ dispatcher: Dispatcher; close: () => Promise<void> }> {
  const resolver = new StaticResolver({ bench: [{ address: '127.0.0.1', port }] });
  const cache = new WatchCache(resolver);
  const dest = new Destination({ namespace: 'default', name: 'bench' }, { cache, discoveryTimeoutMs: 2_000 });
  const { above, below } = withResilience ? resilienceLayers(() => dest.endpoints.size, undefined) : { above: [], below: [] };
  const handle = compose([...above, balance(dest), ...below], transport);
  const target = Object.create(dest, { handle: { value: handle } }) as Destination;
  const passthrough = new Agent();
  const dispatcher = new MeshDispatcher({ route: () => target, passthroughUnknown: false }, passthrough);
  return {
    dispatcher,
    close: async () => {
      await dest.close();
      await cache.close();
      await passthrough.close();
    },
  };
}

async function throughput(): Promise<void> {
  const server = startNode(path.join(buildDir, 'bench/lib/echo-server.js'));
  const port = Number((await server.waitFor(/listening (\d+)/))[1]);
  const bare = await harness(port, false);
  const full = await harness(port, true);
  const targets = [
    { name: 'balance -> transport', d: bare.dispatcher },
    { name: '+ deadline, limit, retry, perTry, outlier', d: full.dispatcher },
  ];
  const send = (d: Dispatcher) => async () => {
    const r = await d.request({ origin: 'http://bench', path: '/', method: 'GET' });
    await r.body.dump();
  };
  try {
    for (const t of targets) await runLoad(send(t.d), { concurrency, durationMs: 1_000 });
    const res = new Map<string, number[]>(targets.map((t) => [t.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const t of r % 2 ? [...targets].reverse() : targets) {
        const out = await runLoad(send(t.d), { concurrency, durationMs });
        if (out.errors > 0) throw new Error(`${out.errors} errors in ${t.name}`);
        res.get(t.name)!.push(out.rps);
      }
    }
    const base = median(res.get(targets[0]!.name)!);
    console.log(`loopback throughput (${concurrency} concurrent, median of ${rounds} interleaved rounds of ${durationMs} ms)`);
    for (const t of targets) {
      const rps = median(res.get(t.name)!);
      console.log(`  ${t.name.padEnd(44)} ${rps.toFixed(0).padStart(8)} req/s   ${(rps / base).toFixed(3)}x`);
    }
  } finally {
    await bare.close();
    await full.close();
    await server.kill();
  }
}

await perCall();
await throughput();
