/**
 * `hyphae proxy` as a sidecar pair against an nginx sidecar pair (issue 16), both with mTLS between the
 * two sides, and no proxy at all, in one run, to the same upstream:
 *
 *   undici              undici Pool.request -> node:http upstream (bench/lib/echo-server.ts)
 *   bare Node pair      undici Pool.request -> bench/lib/bare-proxy.ts client side -> mTLS -> its server side -> the same
 *                       upstream: http.createServer + undici Pool, https.Server + undici Pool, no mesh logic (Node's HTTP stack)
 *   raw-socket L7 pair  the same through bench/lib/lean-proxy.ts l7: HTTP/1.1 framed on net/tls sockets, no http module
 *   L4 pipe pair        the same through bench/lib/lean-proxy.ts l4: bytes piped net <-> tls, no HTTP (Node's sockets and TLS)
 *   nginx sidecar pair  undici Pool.request -> nginx (client side) -> mTLS -> nginx (server side) -> the same upstream
 *   hyphae proxy pair   undici Pool.request (Host: echo) -> hyphae proxy "client" (outbound listener)
 *                       -> mTLS, by name, through the client stack -> hyphae proxy "echo" (inbound) -> the same upstream
 *                       (both hops on the raw HTTP/1.1 transport, the proxy's default: src/core/http1/pool.ts)
 *   ... on undici       the same with HYPHAE_HTTP1_TRANSPORT=undici (services "client-u", "echo-u"): what the raw
 *                       transport saves, in the same run
 *
 * Both hyphae proxies are the real CLI (child processes) on a secure control plane (a child too); each
 * nginx is bench/lib/nginx.ts's sidecar, one worker, keep-alive on every hop. Rounds are interleaved
 * (bench/lib/load.ts); each reads the CPU of the proxies on the row's path from /proc. The report
 * (bench/lib/edge-report.ts) gives req/s, p50, p99 (median rounds), the proxies' CPU per request and
 * the target: the hyphae pair at >= 0.8x the nginx pair's req/s. Without nginx only the hyphae rows run.
 *
 *   npm run build && node build/bench/proxy-pair.js [--duration 5000] [--warmup-requests 30000] [--warmup 60000] [--rounds 5] [--concurrency 32] [--pin] [--profile DIR]
 *
 * --pin: the four proxies on CPU 1, this process and the upstream on CPU 0 (taskset). --profile DIR: the
 * hyphae proxies run under `--cpu-prof` (slower: not a figure to report), their profiles kept in DIR and
 * summed at the end (self time by function and file, time inside our files). Also half of
 * `npm run bench:edges` (bench/edges.ts).
 */
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { buildDir, cliPath, startCommand, startNode, type Child } from '../examples/lib/child.js';
import { joinToken, startFileControlPlane } from './lib/control-planes.js';
import { pinning } from './lib/cpu-pin.js';
import { summarizeProfile, type Profile } from './lib/cpu-profile.js';
import { censusReader } from './lib/connection-census.js';
import { compare, edgeOptionsFromArgs, machine, printEdge, summarize, target, UPSTREAM_BODY, type EdgeOptions, type EdgeResult, type EdgeRow } from './lib/edge-report.js';
import { exitOnSignals } from './lib/exit-on-signal.js';
import { interleavedRounds, poolSend, type LoadTarget } from './lib/load.js';
import { findNginx, NGINX_MISSING, startSidecarPair } from './lib/nginx.js';
import { makeCerts } from './lib/openssl-certs.js';

export const PROXY_PAIR_DEFAULTS: EdgeOptions = { durationMs: 5_000, warmupRequests: 30_000, warmupMs: 60_000, rounds: 5, concurrency: 32, pin: false };

export const PAIR_ROWS = {
  undici: 'undici (no proxy)',
  l4: 'Node L4 pipe pair (mTLS)',
  lean: 'Node raw-socket L7 pair (mTLS)',
  httpIn: 'Node http.Server + raw out pair (mTLS)',
  rawIn: 'Node raw in + undici pair (mTLS)',
  bare: 'bare Node pair (mTLS)',
  nginx: 'nginx sidecar pair (mTLS)',
  hyphae: 'hyphae proxy pair (mTLS)',
  hyphaeUndici: 'hyphae proxy pair on undici (mTLS)',
} as const;

export async function proxyPair(opts: EdgeOptions): Promise<EdgeResult> {
  const stopSignals = exitOnSignals();
  const pin = pinning(opts.pin);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-proxy-'));
  // Also when the bench dies: the 'exit' hooks of examples/lib/child.ts and bench/lib/nginx.ts kill every child.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeDir);
  const cleanups: (() => Promise<unknown>)[] = [];
  const unpin = pin.pinSelf();
  try {
    const nginx = findNginx();
    if (!nginx) console.log(NGINX_MISSING);
    const cp = await startFileControlPlane(true, dir);
    cleanups.push(() => cp.stop());
    const caFile = path.join(dir, 'ca.pem');
    await writeFile(caFile, cp.ca!);
    const upstream = startNode(path.join(buildDir, 'bench/lib/echo-server.js'), [], {}, pin.loadLauncher);
    cleanups.push(() => upstream.kill());
    const upstreamPort = Number((await upstream.waitFor(/listening (\d+)/))[1]);

    const children: Child[] = [];
    cleanups.push(() => Promise.all(children.map((c) => c.kill())));
    const proxy = async (service: string, args: string[], extraEnv: Record<string, string> = {}) => {
      // The census preload counts each proxy's new connections (bench/lib/connection-census.ts), read per round.
      const env = { HYPHAE_CONTROL_PLANE: cp.urls[0], HYPHAE_CA_FILE: caFile, HYPHAE_TOKEN: await joinToken(cp, service), HYPHAE_DRAIN_DELAY_MS: '0', HYPHAE_BENCH_CENSUS: '1', ...extraEnv };
      const cli = [cliPath, 'proxy', '--service', service, '--upstream', `127.0.0.1:${upstreamPort}`, '--listen', '127.0.0.1:0', ...args];
      // Not through NODE_OPTIONS, which refuses --cpu-prof.
      const prof = opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`, `--cpu-prof-name=proxy-${service}-${process.pid}.cpuprofile`] : [];
      const census = ['--import', pathToFileURL(path.join(buildDir, 'bench/lib/connection-census.js')).href];
      const [command = process.execPath, ...rest] = [...pin.proxyLauncher, process.execPath, ...prof, ...census, ...cli];
      const child = startCommand(command, rest, env, cliPath);
      children.push(child);
      const m = await child.waitFor(/hyphae proxy: ready .* outbound=(\S+)/);
      return { child, outbound: m[1]!, census: censusReader(child) };
    };
    const server = await proxy('echo', ['--outbound', 'off']);
    // The client side's upstream is never called here: it is the workload whose outbound the load uses.
    const client = await proxy('client', ['--outbound', '127.0.0.1:0']);
    const onUndici = { HYPHAE_HTTP1_TRANSPORT: 'undici' };
    const serverU = await proxy('echo-u', ['--outbound', 'off'], onUndici);
    const clientU = await proxy('client-u', ['--outbound', '127.0.0.1:0'], onUndici);

    const pools: Pool[] = [];
    cleanups.push(() => Promise.all(pools.map((p) => p.close())));
    const pool = (origin: string) => {
      const p = new Pool(origin, { connections: opts.concurrency });
      pools.push(p);
      return p;
    };
    const targets: (LoadTarget & { labels: string[]; origin: string; pool: Pool; headers?: Record<string, string> })[] = [];
    const row = (name: string, origin: string, labels: string[], pids?: () => readonly number[], headers?: Record<string, string>, counters?: () => Promise<Record<string, number>>) => {
      const p = pool(origin);
      const t = { name, send: poolSend(p, origin, headers), labels, origin, pool: p, ...(pids ? { pids } : {}), ...(headers ? { headers } : {}), ...(counters ? { counters } : {}) };
      targets.push(t);
    };
    row(PAIR_ROWS.undici, `http://127.0.0.1:${upstreamPort}`, []);
    // The bare Node pair and the nginx pair share one set of openssl-made certificates.
    const certs = await makeCerts(dir);
    const side = async (script: string, role: string, next: number) => {
      const child = startNode(path.join(buildDir, 'bench/lib', script), [role, String(next), dir], {}, pin.proxyLauncher);
      cleanups.push(() => child.kill());
      return { pid: child.proc.pid!, port: Number((await child.waitFor(/listening (\d+)/))[1]) };
    };
    // Floors, from Node's HTTP stack (bare) through each half of it on raw sockets down to no HTTP at all: where the pair's cost is.
    for (const [name, script, kind] of [
      [PAIR_ROWS.bare, 'bare-proxy.js', ''],
      [PAIR_ROWS.httpIn, 'half-lean-proxy.js', 'http-in-'],
      [PAIR_ROWS.rawIn, 'half-lean-proxy.js', 'raw-in-'],
      [PAIR_ROWS.lean, 'lean-proxy.js', 'l7-'],
      [PAIR_ROWS.l4, 'lean-proxy.js', 'l4-'],
    ] as const) {
      const s = await side(script, `${kind}server`, upstreamPort);
      const c = await side(script, `${kind}client`, s.port);
      row(name, `http://127.0.0.1:${c.port}`, ['client side', 'server side'], () => [c.pid, s.pid]);
    }
    if (nginx) {
      // mTLS between the sidecars only: the server side calls the workload in clear, as inside a pod.
      const pair = await startSidecarPair(nginx, dir, 'edge-pair', upstreamPort, certs, pin.proxyLauncher);
      cleanups.push(() => pair.stop());
      row(PAIR_ROWS.nginx, `http://127.0.0.1:${pair.port}`, ['client-side master', 'worker', 'server-side master', 'worker'], () => pair.pids());
    }
    const proxyPids = [client.child.proc.pid!, server.child.proc.pid!];
    const cpPort = new URL(cp.urls[0]!).port;
    const outboundPort = client.outbound.slice(client.outbound.lastIndexOf(':') + 1);
    const sum = (counts: Record<string, number>) => Object.values(counts).reduce((n, k) => n + k, 0);
    // Each hop's new connections, from both ends: load -> client proxy; client proxy -> server proxy (each an
    // mTLS handshake on both sides); server proxy -> upstream. A steady load should make none after the first.
    const hops = async () => {
      const [c, s] = await Promise.all([client.census(), server.census()]);
      return {
        'load->client': c.accepted[outboundPort] ?? 0,
        'client->server mTLS': sum(c.connected) - (c.connected[cpPort] ?? 0),
        // The server side runs with --outbound off: everything it accepts comes in on its mTLS listener.
        'server accepts': sum(s.accepted),
        'server->upstream': s.connected[String(upstreamPort)] ?? 0,
        'connect errors': c.connectErrors + s.connectErrors,
      };
    };
    row(PAIR_ROWS.hyphae, `http://${client.outbound}`, ['client side', 'server side'], () => proxyPids, { host: 'echo' }, hops);
    row(PAIR_ROWS.hyphaeUndici, `http://${clientU.outbound}`, ['client side', 'server side'], () => [clientU.child.proc.pid!, serverU.child.proc.pid!], { host: 'echo-u' });

    // Every row reaches the upstream: a proxy answering on its own (502, 404) would be a fast error, not a figure.
    for (const t of targets) {
      const r = await t.pool.request({ origin: t.origin, path: '/', method: 'GET', ...(t.headers ? { headers: t.headers } : {}) });
      const body = await r.body.text();
      if (r.statusCode !== 200 || body !== UPSTREAM_BODY) throw new Error(`${t.name}: answered ${r.statusCode} ${body.slice(0, 200)}, not the upstream's body`);
    }

    const roundsStart = performance.now();
    const results = await interleavedRounds(targets, opts);
    if (opts.profileDir) {
      // SIGTERM: each proxy drains and exits, and node writes its profile on the way out.
      await Promise.all([client.child.kill(), server.child.kill()]);
      for (const service of ['client', 'echo']) {
        const file = path.join(opts.profileDir, `proxy-${service}-${process.pid}.cpuprofile`);
        console.log(`\n-- profile of the ${service === 'echo' ? 'server' : 'client'}-side proxy (${file}), the rounds only, every row's turn included (idle is left out)`);
        console.log(summarizeProfile(JSON.parse(await readFile(file, 'utf8')) as Profile, 30, performance.now() - roundsStart));
      }
    }
    const rows = new Map<string, EdgeRow>(targets.map((t) => [t.name, summarize(t.name, results.get(t.name)!, t.labels)]));
    const hyphae = rows.get(PAIR_ROWS.hyphae)!;
    const nginxRow = rows.get(PAIR_ROWS.nginx);
    const bareRow = rows.get(PAIR_ROWS.bare)!;
    // hyphae against the floor too: what the mesh's code adds above what Node itself costs.
    const floors = [bareRow, rows.get(PAIR_ROWS.httpIn)!, rows.get(PAIR_ROWS.rawIn)!, rows.get(PAIR_ROWS.lean)!, rows.get(PAIR_ROWS.l4)!];
    const comparisons = nginxRow
      ? [
          compare(hyphae, nginxRow),
          compare(rows.get(PAIR_ROWS.hyphaeUndici)!, nginxRow),
          ...floors.map((f) => compare(f, nginxRow)),
          compare(hyphae, rows.get(PAIR_ROWS.hyphaeUndici)!),
          compare(hyphae, bareRow),
          compare(nginxRow, rows.get(PAIR_ROWS.undici)!),
        ]
      : [compare(hyphae, bareRow)];
    const vsNginx = nginxRow ? comparisons[0] : undefined;
    return {
      title: `proxy pair vs nginx sidecar pair (bench/proxy-pair.ts): ${opts.rounds} interleaved rounds x ${opts.durationMs} ms after a warm-up of ${opts.warmupRequests} requests (at most ${opts.warmupMs} ms) per row, ${opts.concurrency} concurrent keep-alive`,
      setup: [pin.describe, 'one worker per proxy (nginx worker_processes 1; each hyphae proxy one Node process); mTLS between the two sides of each pair; the same node:http upstream'],
      rows: [...rows.values()],
      comparisons,
      targets: [target('hyphae proxy pair / nginx sidecar pair (mTLS), req/s', '>=', 0.8, vsNginx?.rpsRatio, vsNginx?.errors ?? false, nginx ? undefined : NGINX_MISSING)],
    };
  } finally {
    unpin();
    for (const c of cleanups.reverse()) await c().catch(() => {});
    removeDir();
    process.off('exit', removeDir);
    stopSignals();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const opts = edgeOptionsFromArgs(process.argv.slice(2), PROXY_PAIR_DEFAULTS);
  console.log(`hyphae bench: ${machine()}`);
  printEdge(await proxyPair(opts));
}
