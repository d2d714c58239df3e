/**
 * `npm run bench:control-plane`: the control plane at mesh scale, on the file
 * store and on etcd (issue 7).
 *
 *   npm run bench:control-plane -- [--store file,etcd] [--instances 10000] [--services 500]
 *       [--watchers 1000] [--procs 4] [--follow 10] [--changes 50] [--replicas 3] [--members 3]
 *       [--security on|off] [--seen-timeout-ms 10000]
 *
 * Security is on by default, as in production: HTTPS (the control planes'
 * CA), one join token per service for its registrations and heartbeats, and
 * one join token for the watchers (the API authenticates watch streams by
 * token; no client certificate is involved). `--security off` runs the
 * control planes with --insecure, for comparison.
 *
 * 1. register `instances` instances across `services` services (TTL 300 s, so
 *    that heartbeats are measured on their own in step 2, not mixed in);
 * 2. renew every lease once, as fast as 64 concurrent callers go;
 * 3. open `watchers` watch streams from `procs` child processes, each
 *    following `follow` services, one of which is svc-0; with etcd they are
 *    spread over the replicas;
 * 4. `changes` times: register one more instance of svc-0 (through the first
 *    control plane) and time until every watcher has parsed the snapshot
 *    that holds it. A change some watcher has not seen within
 *    --seen-timeout-ms (or a watch stream that ends) fails the bench with a
 *    message and exit code 1: a missed update is a result, not a hang.
 *
 * Control-plane CPU and memory come from /proc. Results go to stdout and to
 * bench/results/control-plane.json (for docs/benchmarks.md).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { buildDir, repoRoot } from '../examples/lib/child.js';
import { startEtcdControlPlanes, startFileControlPlane, type BenchSetup } from './lib/control-planes.js';
import { measure, sample } from './lib/proc-stats.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'file,etcd' },
    instances: { type: 'string', default: '10000' },
    services: { type: 'string', default: '500' },
    watchers: { type: 'string', default: '1000' },
    procs: { type: 'string', default: '4' },
    follow: { type: 'string', default: '10' },
    changes: { type: 'string', default: '50' },
    replicas: { type: 'string', default: '3' },
    members: { type: 'string', default: '3' },
    security: { type: 'string', default: 'on' },
    'seen-timeout-ms': { type: 'string', default: '10000' },
  },
});
if (values.security !== 'on' && values.security !== 'off') throw new Error('--security must be on or off');
const secure = values.security === 'on';
const opts = {
  instances: Number(values.instances),
  services: Number(values.services),
  watchers: Number(values.watchers),
  procs: Number(values.procs),
  follow: Number(values.follow),
  changes: Number(values.changes),
  replicas: Number(values.replicas),
  members: Number(values.members),
  seenTimeoutMs: Number(values['seen-timeout-ms']),
};
const stores = values.store.split(',') as ('file' | 'etcd')[];
const now = () => performance.timeOrigin + performance.now();
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

/** Run `count` calls with `concurrency` loops; resolves with calls per second. */
async function hammer(count: number, concurrency: number, call: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await call(next++);
    }),
  );
  return count / ((performance.now() - t0) / 1000);
}

async function post(pool: Pool, path: string, body: unknown, method: 'POST' | 'PUT' = 'POST', token?: string): Promise<unknown> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await pool.request({ path, method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path} answered ${res.statusCode}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

interface Watchers {
  procs: ChildProcess[];
  /**
   * Resolves with every stream's arrival time of `marker`; rejects when not
   * every stream has it within `timeoutMs`, or when a stream or a watcher
   * process ended meanwhile.
   */
  seen(marker: number, timeoutMs: number): Promise<number[]>;
  close(): void;
}

interface SeenWait {
  times: number[];
  left: number;
  resolve: (t: number[]) => void;
  reject: (err: Error) => void;
}

async function openWatchers(urls: string[], ca: string | undefined, token: string | undefined): Promise<Watchers> {
  const per = Math.ceil(opts.watchers / opts.procs);
  const pending = new Map<number, SeenWait>();
  const early = new Map<number, number[][]>();
  const procs: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  let closing = false;
  // After start-up, a stream that ends or a process that dies would leave a change unseen for ever: fail what waits.
  let failure: Error | undefined;
  const fail = (err: Error) => {
    if (closing) return;
    failure ??= err;
    for (const w of pending.values()) w.reject(failure);
    pending.clear();
  };
  for (let p = 0; p < opts.procs; p++) {
    const count = Math.min(per, opts.watchers - p * per);
    if (count <= 0) break;
    const child = fork(path.join(buildDir, 'bench/lib/watchers.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    procs.push(child);
    ready.push(
      new Promise((resolve, reject) => {
        child.on('message', (msg: { type: string; marker?: number; at?: number[]; message?: string }) => {
          if (msg.type === 'ready') resolve();
          else if (msg.type === 'error') {
            reject(new Error(msg.message));
            fail(new Error(`watcher process ${p + 1}: ${msg.message}`));
          } else if (msg.type === 'seen') {
            const wait = pending.get(msg.marker!);
            if (!wait) {
              early.set(msg.marker!, [...(early.get(msg.marker!) ?? []), msg.at!]);
              return;
            }
            wait.times.push(...msg.at!);
            if (--wait.left === 0) {
              pending.delete(msg.marker!);
              wait.resolve(wait.times);
            }
          }
        });
        child.once('exit', (code) => {
          reject(new Error(`watcher process exited ${code}`));
          fail(new Error(`watcher process ${p + 1} exited (${code})`));
        });
      }),
    );
    child.send({ type: 'open', urls, ca, token, first: p * per, count, follow: opts.follow, services: opts.services, target: 'svc-0' });
  }
  await Promise.all(ready);
  return {
    procs,
    seen(marker, timeoutMs) {
      return new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        const got = early.get(marker) ?? [];
        early.delete(marker);
        const left = procs.length - got.length;
        if (left === 0) return resolve(got.flat());
        const timer = setTimeout(() => {
          pending.delete(marker);
          const done = procs.length - wait.left;
          reject(new Error(`a watcher missed an update: change ${marker - 30_000 + 1} reached every stream of ${done} of ${procs.length} watcher processes within ${timeoutMs} ms`));
        }, timeoutMs);
        const wait: SeenWait = {
          times: got.flat(),
          left,
          resolve: (t) => {
            clearTimeout(timer);
            resolve(t);
          },
          reject: (err) => {
            clearTimeout(timer);
            reject(err);
          },
        };
        pending.set(marker, wait);
      });
    },
    close() {
      closing = true;
      for (const c of procs) if (c.connected) c.send({ type: 'close' });
    },
  };
}

async function run(setup: BenchSetup) {
  const pools = setup.urls.map((u) => new Pool(u, { connections: 32, ...(setup.ca && { connect: { ca: setup.ca } }) }));
  const cps = setup.pids;
  // The driver (this process) last: it shares the machine, and its TLS and JSON work can be the limit.
  const allPids = [...cps, ...setup.etcdPids, process.pid];
  const base = cps.map((p) => sample(p));

  // 0. One join token per service (a workload registers with its own), one for the watchers.
  const tokens: (string | undefined)[] = new Array(opts.services).fill(undefined);
  let watcherToken: string | undefined;
  if (setup.adminToken) {
    const make = async (service: string) => ((await post(pools[0]!, '/v1/tokens', { service }, 'POST', setup.adminToken)) as { token: string }).token;
    await hammer(opts.services, 16, async (i) => void (tokens[i] = await make(`svc-${i}`)));
    watcherToken = await make('bench-watcher');
  }

  // 1. Registrations, spread over the control planes.
  const leases: string[] = new Array(opts.instances);
  const reg = await measure(allPids, () =>
    hammer(opts.instances, 64, async (i) => {
      const body = { service: `svc-${i % opts.services}`, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, ttlSeconds: 300 };
      leases[i] = ((await post(pools[i % pools.length]!, '/v1/instances', body, 'POST', tokens[i % opts.services])) as { leaseId: string }).leaseId;
    }),
  );
  // 2. One heartbeat per lease.
  const beat = await measure(allPids, () =>
    hammer(opts.instances, 64, async (i) => void (await post(pools[i % pools.length]!, `/v1/leases/${leases[i]}`, undefined, 'PUT', tokens[i % opts.services]))),
  );
  const afterRegistry = cps.map((p) => sample(p));

  // 3. Watchers.
  const t0 = performance.now();
  const watchers = await openWatchers(setup.urls, setup.ca, watcherToken);
  const openSeconds = (performance.now() - t0) / 1000;
  const idle = await measure(allPids, () => new Promise((r) => setTimeout(r, 5_000)));
  const withWatchers = cps.map((p) => sample(p));

  // 4. Endpoint changes, each timed to every watcher.
  const all: number[] = [];
  const last: number[] = [];
  let changes: { seconds: number; cpuSeconds: number[] };
  try {
    changes = await measure(allPids, async () => {
      for (let i = 0; i < opts.changes; i++) {
        const marker = 30_000 + i;
        const seen = watchers.seen(marker, opts.seenTimeoutMs);
        // Handled below, after the write; a rejection meanwhile must not count as unhandled.
        seen.catch(() => {});
        const sent = now();
        await post(pools[0]!, '/v1/instances', { service: 'svc-0', address: '10.255.255.1', port: marker, ttlSeconds: 300 }, 'POST', tokens[0]);
        const times = (await seen).map((t) => t - sent);
        all.push(...times);
        last.push(Math.max(...times));
        await new Promise((r) => setTimeout(r, 20));
      }
    });
  } finally {
    watchers.close();
    await Promise.all(pools.map((p) => p.close()));
  }
  const end = cps.map((p) => sample(p));
  const etcdRss = setup.etcdPids.map((p) => sample(p).rssMiB);

  all.sort((a, b) => a - b);
  last.sort((a, b) => a - b);
  const cpuPct = (m: { seconds: number; cpuSeconds: number[] }, i: number) => (100 * m.cpuSeconds[i]!) / m.seconds;
  return {
    store: setup.store,
    secure: setup.secure,
    controlPlanes: cps.length,
    etcdMembers: setup.etcdPids.length,
    registrationsPerSecond: reg.result,
    heartbeatsPerSecond: beat.result,
    watchersOpenSeconds: openSeconds,
    deliveries: all.length,
    p50ms: pct(all, 50),
    p99ms: pct(all, 99),
    maxMs: all.at(-1)!,
    everyWatcherP50ms: pct(last, 50),
    everyWatcherP99ms: pct(last, 99),
    perControlPlane: cps.map((_, i) => ({
      rssStartMiB: base[i]!.rssMiB,
      rssWithInstancesMiB: afterRegistry[i]!.rssMiB,
      rssWithWatchersMiB: withWatchers[i]!.rssMiB,
      peakRssMiB: end[i]!.peakRssMiB,
      cpuRegisterPct: cpuPct(reg, i),
      cpuHeartbeatPct: cpuPct(beat, i),
      cpuIdlePct: cpuPct(idle, i),
      cpuMsPerChange: (1000 * changes.cpuSeconds[i]!) / opts.changes,
    })),
    driver: { cpuRegisterPct: cpuPct(reg, allPids.length - 1), cpuHeartbeatPct: cpuPct(beat, allPids.length - 1) },
    etcd: setup.etcdPids.map((_, j) => ({
      rssMiB: etcdRss[j]!,
      cpuRegisterPct: cpuPct(reg, cps.length + j),
      cpuHeartbeatPct: cpuPct(beat, cps.length + j),
      cpuIdlePct: cpuPct(idle, cps.length + j),
    })),
  };
}

const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
console.log(`hyphae control-plane bench: ${machine}`);
console.log(
  `${opts.instances} instances in ${opts.services} services, ${opts.watchers} watchers in ${opts.procs} processes following ${opts.follow} services each, ${opts.changes} changes, ` +
    `security ${secure ? 'on (HTTPS, join tokens)' : 'off (--insecure)'}`,
);
const results = [];
let failed: Error | undefined;
for (const store of stores) {
  const setup = store === 'file' ? await startFileControlPlane(secure) : await startEtcdControlPlanes(opts.replicas, opts.members, secure);
  try {
    let r;
    try {
      r = await run(setup);
    } catch (err) {
      failed = err as Error;
      console.error(`\n== ${store}: bench FAILED: ${failed.message}`);
      break;
    }
    results.push(r);
    const f = (n: number, d = 1) => n.toFixed(d);
    console.log(`\n== ${store}: ${r.controlPlanes} control plane(s)${r.etcdMembers ? ` on ${r.etcdMembers} etcd members` : ''}, security ${secure ? 'on' : 'off'}`);
    console.log(`registrations ${f(r.registrationsPerSecond, 0)}/s, heartbeats ${f(r.heartbeatsPerSecond, 0)}/s, ${opts.watchers} watchers open in ${f(r.watchersOpenSeconds, 2)} s`);
    console.log(`change -> watcher: p50 ${f(r.p50ms)} ms, p99 ${f(r.p99ms)} ms, max ${f(r.maxMs)} ms over ${r.deliveries} deliveries`);
    console.log(`change -> every watcher: p50 ${f(r.everyWatcherP50ms)} ms, p99 ${f(r.everyWatcherP99ms)} ms`);
    r.perControlPlane.forEach((c, i) =>
      console.log(
        `control plane ${i + 1}: RSS ${f(c.rssStartMiB, 0)} -> ${f(c.rssWithInstancesMiB, 0)} (instances) -> ${f(c.rssWithWatchersMiB, 0)} MiB (watchers), peak ${f(c.peakRssMiB, 0)} MiB; ` +
          `CPU ${f(c.cpuRegisterPct, 0)}% registering, ${f(c.cpuHeartbeatPct, 0)}% heartbeats, ${f(c.cpuIdlePct)}% idle, ${f(c.cpuMsPerChange, 2)} ms per change`,
      ),
    );
    console.log(`driver (this process, 64 concurrent callers): CPU ${f(r.driver.cpuRegisterPct, 0)}% registering, ${f(r.driver.cpuHeartbeatPct, 0)}% heartbeats`);
    r.etcd.forEach((e, j) =>
      console.log(`etcd member ${j + 1}: RSS ${f(e.rssMiB, 0)} MiB; CPU ${f(e.cpuRegisterPct, 0)}% registering, ${f(e.cpuHeartbeatPct, 0)}% heartbeats, ${f(e.cpuIdlePct)}% idle`),
    );
  } finally {
    await setup.stop();
  }
}
if (failed) {
  // Nothing is written: a run with a missed update has no figures to stand for.
  process.exitCode = 1;
} else {
  await mkdir(path.join(repoRoot, 'bench/results'), { recursive: true });
  await writeFile(
    path.join(repoRoot, 'bench/results/control-plane.json'),
    `${JSON.stringify({ machine, date: new Date().toISOString(), options: { ...opts, security: values.security }, results }, null, 2)}\n`,
  );
}
