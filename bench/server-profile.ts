/**
 * Where a meshed SERVER spends its CPU (issue 15's both-ends gap): the server process of
 * bench/sidecar.ts (bench/lib/cost-server.ts) under `node --cpu-prof`, loaded through one of its
 * listeners at a time by a client in this process, then the profile summed by self time per
 * function and per file. Not a throughput bench: the profiler itself slows the server.
 *
 *   node build/bench/server-profile.js [--listener mesh|meshMtls|plain|tls] [--duration 8000] [--concurrency 32] [--top 40] [--interval 100] [--keep DIR]
 *   node build/bench/server-profile.js --rounds 5 --listener plain,mesh [--duration 3000]
 *
 * With --rounds, no profiler: the listeners (comma-separated) in interleaved rounds, the server's CPU
 * per request of each (from /proc), median and spread.
 *
 * `plain` / `tls` are the same handler without the mesh (the baseline); `mesh` / `meshMtls` are
 * wrapServer on a plain / a STRICT mTLS control plane, called with mesh.request from a meshed client
 * (both ends meshed, as in bench:sidecar); `meshRaw` is the plain mesh server called by the same raw
 * undici Pool as `plain`, so that the two differ only by wrapServer. With --keep the .cpuprofile stays in DIR (for DevTools).
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Pool, request } from 'undici';
import { createMesh } from '../src/index.js';
import { buildDir, startCommand } from '../examples/lib/child.js';
import { startCostSetup } from './lib/cost-setup.js';
import { summarizeProfile, type Profile } from './lib/cpu-profile.js';
import { median, runLoad } from './lib/load.js';
import { sample } from './lib/proc-stats.js';

const { values } = parseArgs({
  options: {
    listener: { type: 'string', default: 'mesh' },
    duration: { type: 'string', default: '8000' },
    concurrency: { type: 'string', default: '32' },
    top: { type: 'string', default: '40' },
    keep: { type: 'string' },
    interval: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '0' },
  },
});
type Listener = 'mesh' | 'meshMtls' | 'plain' | 'tls' | 'meshRaw';
const listeners = values.listener.split(',') as Listener[];
for (const l of listeners) if (!['mesh', 'meshMtls', 'plain', 'tls', 'meshRaw'].includes(l)) throw new Error(`--listener: mesh, meshMtls, plain, tls or meshRaw (got ${l})`);
const rounds = Number(values.rounds);
if (rounds === 0 && listeners.length !== 1) throw new Error('a profile is of one listener; --rounds N compares several');

const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-server-profile-'));
const profDir = path.join(dir, 'prof');
mkdirSync(profDir);
const cleanups: (() => Promise<unknown>)[] = [];
try {
  const { certs, plainCp, mtlsCp, clientToken, cacheDir, serverEnv } = await startCostSetup(dir, cleanups);
  const script = path.join(buildDir, 'bench/lib/cost-server.js');
  // Not through NODE_OPTIONS, which refuses --cpu-prof.
  const profile = rounds === 0 ? ['--cpu-prof', '--cpu-prof-interval', values.interval!, `--cpu-prof-dir=${profDir}`] : [];
  const server = startCommand(process.execPath, [...profile, script], serverEnv, script);
  cleanups.push(() => server.kill());
  const ports = JSON.parse((await server.waitFor(/^listening (\{.*\})$/, 60_000))[1]!) as Record<string, number>;

  const meshes = new Map<string, Awaited<ReturnType<typeof createMesh>>>();
  const sendFor = async (name: Listener): Promise<() => Promise<void>> => {
    if (name === 'mesh' || name === 'meshMtls') {
      let mesh = meshes.get(name);
      if (!mesh) {
        mesh =
          name === 'mesh'
            ? await createMesh({ controlPlane: plainCp.urls[0]!, service: 'bench-client', cacheDir })
            : await createMesh({ controlPlane: mtlsCp.urls[0]!, service: 'bench-client', token: clientToken, ca: mtlsCp.ca!, cacheDir });
        meshes.set(name, mesh);
        cleanups.push(() => mesh!.close());
      }
      const m = mesh;
      return async () => {
        const r = await m.request('http://bench/');
        await r.body.dump();
        if (r.statusCode !== 200) throw new Error(`mesh.request answered ${r.statusCode}`);
      };
    }
    const tls = name === 'tls';
    const origin = `${tls ? 'https' : 'http'}://127.0.0.1:${ports[name === 'meshRaw' ? 'mesh' : name]}`;
    const connect = tls ? { ca: readFileSync(certs.caCert), cert: readFileSync(certs.clientCert), key: readFileSync(certs.clientKey) } : {};
    const pool = new Pool(origin, { pipelining: 1, connect });
    cleanups.push(() => pool.close());
    return async () => {
      const r = await pool.request({ origin, path: '/', method: 'GET' });
      await r.body.dump();
      if (r.statusCode !== 200) throw new Error(`${origin} answered ${r.statusCode}`);
    };
  };
  const concurrency = Number(values.concurrency);
  const durationMs = Number(values.duration);
  const sends = new Map<Listener, () => Promise<void>>();
  for (const name of listeners) {
    const send = await sendFor(name);
    sends.set(name, send);
    await runLoad(send, { concurrency, durationMs: 1_000 });
  }
  const countsOrigin = `http://127.0.0.1:${ports.counts}`;
  /** Connections the listener has accepted so far (cost-server's `counts` listener). */
  const accepted = async (name: Listener): Promise<number> => {
    const r = await request(countsOrigin);
    return ((await r.body.json()) as Record<string, number>)[name === 'meshRaw' ? 'mesh' : name]!;
  };
  const measure = async (name: Listener) => {
    const conns0 = await accepted(name);
    const cpu0 = sample(server.proc.pid!).cpuSeconds;
    const res = await runLoad(sends.get(name)!, { concurrency, durationMs });
    const serverUs = ((sample(server.proc.pid!).cpuSeconds - cpu0) * 1e6) / res.requests;
    return { res, serverUs, connections: (await accepted(name)) - conns0 };
  };
  if (rounds === 0) {
    const { res, serverUs, connections } = await measure(listeners[0]!);
    console.log(
      `${listeners[0]}: ${res.requests} requests, ${res.rps.toFixed(0)} req/s, errors ${res.errors}, server CPU ${serverUs.toFixed(1)} µs/request (profiled), ${connections} new connections`,
    );
    await server.kill('SIGTERM');
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('the server wrote no profile');
    console.log(summarizeProfile(JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as Profile, Number(values.top), durationMs));
    if (rounds === 0 && values.keep) {
      mkdirSync(values.keep, { recursive: true });
      copyFileSync(path.join(profDir, file), path.join(values.keep, `server-${listeners[0]}.cpuprofile`));
    }
  } else {
    // Interleaved rounds, the order reversed every other round, so that drift on a shared machine hits every listener alike.
    const perListener = new Map<Listener, number[]>(listeners.map((l) => [l, []]));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? listeners : [...listeners].reverse();
      const line: string[] = [];
      for (const name of order) {
        const { res, serverUs, connections } = await measure(name);
        if (res.errors > 0) throw new Error(`${name}: ${res.errors} failed requests`);
        perListener.get(name)!.push(serverUs);
        line.push(`${name} ${serverUs.toFixed(1)} µs (${res.rps.toFixed(0)} req/s, ${connections} new conns)`);
      }
      console.log(`round ${r + 1}: ${line.join(', ')}`);
    }
    for (const [name, us] of perListener) {
      const sorted = [...us].sort((x, y) => x - y);
      console.log(`${name}: server CPU median ${median(us).toFixed(1)} µs/request (${sorted[0]!.toFixed(1)}-${sorted[sorted.length - 1]!.toFixed(1)})`);
    }
  }
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
