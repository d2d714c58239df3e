/**
 * `hyphae proxy` as a sidecar pair (issue 16), against no proxy at all, in one run:
 *
 *   undici       undici Pool.request -> node:http upstream (bench/lib/echo-server.ts)
 *   proxy pair   undici Pool.request (Host: echo) -> hyphae proxy "client" (outbound listener)
 *                -> mTLS, by name, through the client stack -> hyphae proxy "echo" (inbound) -> the same upstream
 *
 * Both proxies are the real CLI (child processes) on a secure control plane (a child too). Rounds are
 * interleaved; the report gives req/s, p50, p99 (medians over rounds) and the CPU each proxy used per
 * request. The nginx sidecar pair of issue 16's target is bench:sidecar's; this bench is the hyphae half.
 *
 *   npm run build && node build/bench/proxy-pair.js [--duration 5000] [--rounds 3] [--concurrency 32]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, Pool, request } from 'undici';
import { buildDir, cliPath, startNode, type Child } from '../examples/lib/child.js';
import { startFileControlPlane } from './lib/control-planes.js';
import { exitOnSignals } from './lib/exit-on-signal.js';
import { median, runLoad, type LoadResult } from './lib/load.js';
import { measure } from './lib/proc-stats.js';

const { values } = parseArgs({ options: { duration: { type: 'string' }, rounds: { type: 'string' }, concurrency: { type: 'string' } } });
const durationMs = Number(values.duration ?? 5_000);
const rounds = Number(values.rounds ?? 3);
const concurrency = Number(values.concurrency ?? 32);

exitOnSignals();
const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-proxy-'));
const cp = await startFileControlPlane(true, dir);
const children: Child[] = [];
try {
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, cp.ca!);
  const admin = new Agent({ connect: { ca: cp.ca! } });
  const token = async (service: string) => {
    const res = await request(`${cp.urls[0]}/v1/tokens`, {
      method: 'POST',
      dispatcher: admin,
      headers: { authorization: `Bearer ${cp.adminToken!}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service }),
    });
    return ((await res.body.json()) as { token: string }).token;
  };
  const upstream = startNode(path.join(buildDir, 'bench/lib/echo-server.js'));
  children.push(upstream);
  const upstreamPort = Number((await upstream.waitFor(/listening (\d+)/))[1]);
  const proxy = async (service: string, args: string[]) => {
    const child = startNode(cliPath, ['proxy', '--service', service, '--upstream', `127.0.0.1:${upstreamPort}`, '--listen', '127.0.0.1:0', ...args], {
      HYPHAE_CONTROL_PLANE: cp.urls[0],
      HYPHAE_CA_FILE: caFile,
      HYPHAE_TOKEN: await token(service),
      HYPHAE_DRAIN_DELAY_MS: '0',
    });
    children.push(child);
    const m = await child.waitFor(/hyphae proxy: ready .* outbound=(\S+)/);
    return { child, outbound: m[1]! };
  };
  const server = await proxy('echo', ['--outbound', 'off']);
  // The client side's upstream is never called here: it is the workload whose outbound the load uses.
  const client = await proxy('client', ['--outbound', '127.0.0.1:0']);

  const direct = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: concurrency });
  const viaProxy = new Pool(`http://${client.outbound}`, { connections: concurrency });
  const targets: { name: string; send: () => Promise<void> }[] = [
    {
      name: 'undici',
      send: async () => {
        const r = await direct.request({ path: '/', method: 'GET' });
        await r.body.dump();
        if (r.statusCode !== 200) throw new Error(String(r.statusCode));
      },
    },
    {
      name: 'proxy pair (mTLS)',
      send: async () => {
        const r = await viaProxy.request({ path: '/', method: 'GET', headers: { host: 'echo' } });
        await r.body.dump();
        if (r.statusCode !== 200) throw new Error(String(r.statusCode));
      },
    },
  ];
  // Warm up: connections, certificates, discovery.
  for (const t of targets) await runLoad(t.send, { concurrency, durationMs: 1_000 });
  const results = new Map<string, { load: LoadResult; proxyCpuUs: number[] }[]>();
  const pids = [client.child.proc.pid!, server.child.proc.pid!];
  for (let round = 0; round < rounds; round++) {
    for (const t of targets) {
      const m = await measure(pids, () => runLoad(t.send, { concurrency, durationMs }));
      const list = results.get(t.name) ?? [];
      list.push({ load: m.result, proxyCpuUs: m.cpuSeconds.map((s) => (s * 1e6) / Math.max(1, m.result.requests)) });
      results.set(t.name, list);
    }
  }
  console.log(`proxy pair bench: ${rounds} rounds x ${durationMs} ms, concurrency ${concurrency}, node ${process.version}, ${os.cpus().length} CPUs`);
  console.log('target              req/s    p50 ms   p99 ms   errors   client-proxy CPU/req   server-proxy CPU/req');
  for (const [name, list] of results) {
    const m = (f: (r: (typeof list)[number]) => number) => median(list.map(f));
    const cpu = (i: number) => (name === 'undici' ? '-' : `${m((r) => r.proxyCpuUs[i]!).toFixed(0)} µs`);
    console.log(
      `${name.padEnd(18)} ${m((r) => r.load.rps)
        .toFixed(0)
        .padStart(6)}   ${m((r) => r.load.p50ms)
        .toFixed(2)
        .padStart(6)}   ${m((r) => r.load.p99ms)
        .toFixed(2)
        .padStart(6)}   ${String(list.reduce((a, r) => a + r.load.errors, 0)).padStart(6)}   ${cpu(0).padStart(20)}   ${cpu(1).padStart(20)}`,
    );
  }
  await direct.close();
  await viaProxy.close();
  await admin.close();
} finally {
  for (const c of children) await c.kill();
  await cp.stop();
  await rm(dir, { recursive: true, force: true });
}
