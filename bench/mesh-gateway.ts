/**
 * The mesh gateway (issue 17) against a direct mTLS call and against nginx `stream` with `ssl_preread`
 * (SNI passthrough, the baseline the issue names), in one run, to the same upstream:
 *
 *   direct         mesh client (mTLS, no SNI)                            -> upstream
 *   nginx stream   mesh client (mTLS, SNI web.default.default.hyphae) -> nginx, ssl_preread, one worker -> upstream
 *   mesh gateway   mesh client (mTLS, the same SNI) -> `hyphae gateway --mode mesh` (the real CLI, a child process) -> upstream
 *
 * Neither proxy decrypts: the TLS session is the client's with the upstream (mesh service `web`, STRICT,
 * bench/lib/mtls-echo-server.ts), so every row makes the same handshakes and the same crypto; the proxies
 * only read one ClientHello per connection and move bytes. The client is this process's mesh, whose
 * discovery (bench/lib/fixed-resolver.ts) points `web` at each row's front; an endpoint with a `cluster`
 * gets the mesh SNI, as an imported instance does.
 *
 * CPU: with --pin (the default) nginx and the gateway run on CPU 1, the load generator and the upstream on
 * CPU 0, "one core each". Target: the gateway's throughput >= 0.8x nginx stream's with one core each.
 *
 * Which figure judges it: on this 2-core machine CPU 0 (a Node TLS client and a Node TLS server) is the
 * limit, and the proxies use a fraction of CPU 1, so the measured req/s of the proxied rows says how much
 * each hop slows a client-bound load, not what a proxy does with its core. What a proxy would do with one
 * saturated core is 1 s / its CPU per request (each proxy's CPU from /proc, per round): the target is
 * judged by that ratio unless both proxies used nearly all their core (>= 0.9), when the measured req/s
 * ratio is the saturated one and judges. Both are printed, with the shares of a core they used.
 *
 *   npm run build && node build/bench/mesh-gateway.js [--duration 5000] [--warmup-requests 30000] [--warmup 60000] [--rounds 5] [--concurrency 32] [--no-pin] [--profile DIR] [--baseline-build DIR] [--quota CORES [--quota-period-ms MS]] [--bytes]
 *
 * --quota CORES: each proxy in a cgroup of its own with the same CPU budget (bench/lib/cpu-quota.ts; root),
 * small enough for the load generator to fill: both proxies saturated, "one core each" scaled down, and the
 * measured req/s judges. --quota-period-ms: how the budget is sliced (default 100: 30 ms on, 70 ms frozen at 0.3).
 *
 * --bytes: instead of the mesh client and the TLS upstream, a load of opaque bytes (bench/lib/raw-bytes.ts):
 * each connection opens with a real ClientHello for the mesh SNI of service `bytes` (an upstream in this
 * process, registered as its instance), then fixed-size requests and answers in clear. Neither proxy
 * decrypts, so they move these bytes as they would TLS records of the same sizes, while the load and the
 * upstream cost a fraction of the TLS rows': with --quota, the proxies' budget can be a third of a core.
 *
 * --profile DIR: the gateway runs under `--cpu-prof` (slower: not a figure to report), its profile kept in
 * DIR and summed at the end (bench/lib/cpu-profile.ts).
 *
 * --baseline-build DIR: a second gateway, the CLI of another build (DIR is its `build` folder, e.g. main's
 * in a checkout of its own), beside this build's; its row ("mesh gateway baseline") runs interleaved with
 * the others: before and after a change in one run, reported as this build's gateway / the baseline's.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMesh, type Mesh } from '../src/index.js';
import { silentLogger } from '../src/core/logger.js';
import { meshSni } from '../src/config/mesh-sni.js';
import { buildDir, cliPath, startCommand, startNode } from '../examples/lib/child.js';
import { joinToken, startFileControlPlane } from './lib/control-planes.js';
import { pinning } from './lib/cpu-pin.js';
import { cpuQuota, type CpuQuota } from './lib/cpu-quota.js';
import { summarizeProfile, type Profile } from './lib/cpu-profile.js';
import {
  compare,
  edgeOptionsFromArgs,
  machine,
  printEdge,
  summarize,
  target,
  UPSTREAM_BODY,
  type EdgeComparison,
  type EdgeOptions,
  type EdgeResult,
  type EdgeRow,
  type EdgeTarget,
} from './lib/edge-report.js';
import { exitOnSignals } from './lib/exit-on-signal.js';
import { fixedResolver } from './lib/fixed-resolver.js';
import { interleavedRounds, poolSend, type LoadTarget } from './lib/load.js';
import { ANSWER_BYTES, bytesSend, clientHelloFor, REQUEST_BYTES, startBytesUpstream } from './lib/raw-bytes.js';
import { findNginx, NGINX_MISSING, start as startNginx } from './lib/nginx.js';

export const MESH_GATEWAY_DEFAULTS: EdgeOptions = { durationMs: 5_000, warmupRequests: 30_000, warmupMs: 60_000, rounds: 5, concurrency: 32, pin: true };

const SERVICE = 'web';
const CLUSTER = 'default';
const SNI = meshSni({ service: SERVICE, namespace: 'default', cluster: CLUSTER });

/** nginx as a mesh gateway would be configured: route the mesh SNI to the upstream, refuse any other name. */
function streamConfig(dir: string, routes: Record<string, number>): (port: number) => string {
  return (port) =>
    [
      '# generated by bench/mesh-gateway.ts',
      'load_module /usr/lib/nginx/modules/ngx_stream_module.so;',
      'worker_processes 1;',
      'daemon off;',
      `pid ${path.join(dir, 'stream.pid')};`,
      // notice: the master logs "start worker process N" once its listening sockets are bound (the ready signal).
      'error_log stderr notice;',
      'events { worker_connections 4096; }',
      'stream {',
      '  map $ssl_preread_server_name $backend {',
      ...Object.entries(routes).map(([sni, port]) => `    ${sni} 127.0.0.1:${port};`),
      // Nothing listens on port 1: another name is refused, as the gateway refuses it.
      '    default 127.0.0.1:1;',
      '  }',
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    ssl_preread on;',
      '    proxy_pass $backend;',
      '  }',
      '}',
      '',
    ].join('\n');
}

const NGINX = 'nginx stream (ssl_preread)';
/** --bytes: the service whose upstream takes opaque bytes after a ClientHello (bench/lib/raw-bytes.ts). */
const BYTES_SERVICE = 'bytes';
const BYTES_SNI = meshSni({ service: BYTES_SERVICE, namespace: 'default', cluster: CLUSTER });
const BASELINE = 'mesh gateway baseline';
const BARE = 'bare Node relay (the floor)';
const GATEWAY_ARGS = ['gateway', '--mode', 'mesh', '--cluster', CLUSTER, '--listen', '127.0.0.1:0', '--no-register'];
/** A proxy using at least this share of its core is taken as saturated (the measured req/s is then its own limit). */
const SATURATED = 0.9;

/**
 * "One core each": the measured req/s ratio when both proxies were saturated; otherwise what each would do
 * at one saturated core, 1 s / its CPU per request, as a ratio (the median of the rounds' CPU ratios,
 * inverted). Says which judges and why.
 */
function oneCoreEach(g: EdgeRow, n: EdgeRow | undefined, c: EdgeComparison | undefined, cores: number): { judge: string; value: number | undefined; lines: string[] } {
  if (n === undefined || c === undefined) return { judge: 'throughput with one core each', value: undefined, lines: [] };
  const saturated = g.proxyBusy >= SATURATED * cores && n.proxyBusy >= SATURATED * cores;
  const projected = 1 / c.cpuRatio;
  const lines = [
    `measured req/s, gateway / nginx: ${c.rpsRatio.toFixed(3)}x, with ${g.proxyBusy.toFixed(2)} and ${n.proxyBusy.toFixed(2)} of their cores used`,
    `at one saturated core each (1 s / CPU per request), gateway / nginx: ${projected.toFixed(3)}x (nginx's CPU per request / the gateway's, median of the rounds)`,
    saturated
      ? `judged by the measured req/s: both proxies used >= ${SATURATED} of the ${cores} core each may use, so it is their own limit`
      : `judged by the saturated figure: a proxy used under ${SATURATED} of the ${cores} core it may use, so the measured req/s is not its own limit (the load generator and upstream on CPU 0, or other processes on its CPU)`,
  ];
  return saturated ? { judge: 'req/s (both proxies saturated)', value: c.rpsRatio, lines } : { judge: 'req/s at one saturated core (1 s / CPU per request)', value: projected, lines };
}

/** The first request of a bytes row, retried (bounded) while the gateway does not know the service yet. */
async function untilBytesServed(name: string, send: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      if (attempt >= 50) throw new Error(`${name}: not served`, { cause: err });
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

async function untilServed(name: string, mesh: Mesh): Promise<void> {
  const r = await mesh.request(`http://${SERVICE}/`);
  const body = await r.body.text();
  if (r.statusCode !== 200 || body !== UPSTREAM_BODY) throw new Error(`${name}: ${r.statusCode} ${body.slice(0, 200)}`);
}

export async function meshGatewayVsNginx(opts: EdgeOptions & { quotaCores?: number; quotaPeriodMs?: number; bytes?: boolean }): Promise<EdgeResult> {
  const DIRECT = opts.bytes ? 'direct' : 'direct mTLS';
  const stopSignals = exitOnSignals();
  const pin = pinning(opts.pin);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-meshgw-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeDir);
  const cleanups: (() => Promise<unknown>)[] = [];
  const quota: CpuQuota | undefined = opts.quotaCores === undefined ? undefined : cpuQuota(opts.quotaCores, opts.quotaPeriodMs);
  // First in, so last out: the groups go once their processes are gone.
  if (quota) cleanups.push(async () => quota.remove());
  const unpin = pin.pinSelf();
  try {
    const nginx = findNginx();
    if (!nginx) console.log(NGINX_MISSING);
    const cp = await startFileControlPlane(true, dir);
    cleanups.push(() => cp.stop());
    const caFile = path.join(dir, 'ca.pem');
    await writeFile(caFile, cp.ca!);
    const meshEnv = { HYPHAE_CONTROL_PLANE: cp.urls[0], HYPHAE_CA_FILE: caFile, HYPHAE_DRAIN_DELAY_MS: '0' };
    const upstream = startNode(path.join(buildDir, 'bench/lib/mtls-echo-server.js'), [], { ...meshEnv, HYPHAE_SERVICE: SERVICE, HYPHAE_TOKEN: await joinToken(cp, SERVICE) }, pin.loadLauncher);
    cleanups.push(() => upstream.kill());
    // A ceiling: the upstream makes a key, has it signed and registers.
    const upstreamPort = Number((await upstream.waitFor(/listening (\d+)/, 60_000))[1]);

    const gatewayToken = await joinToken(cp, 'mesh-gateway');
    let started = 0;
    let profileReport: (() => Promise<void>) | undefined;
    /** One `hyphae gateway --mode mesh` of the CLI `cli`, on the proxies' CPU; its listening port. */
    const startGateway = async (cli: string, profileDir: string | undefined) => {
      // --profile DIR: under --cpu-prof (on the command line: NODE_OPTIONS refuses it); slower, not a figure to report.
      const prof = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=mesh-gateway-${process.pid}.cpuprofile`] : [];
      const [command = process.execPath, ...rest] = [...pin.proxyLauncher, process.execPath, ...prof, cli, ...GATEWAY_ARGS];
      const gateway = startCommand(command, rest, { ...meshEnv, HYPHAE_TOKEN: gatewayToken }, cli);
      // SIGKILL: its graceful drain would only lengthen the bench's end (with --profile, SIGTERM: node writes the profile on exit).
      cleanups.push(() => gateway.kill(profileDir ? 'SIGTERM' : 'SIGKILL'));
      if (profileDir) {
        const file = path.join(profileDir, `mesh-gateway-${process.pid}.cpuprofile`);
        profileReport = async () => {
          await gateway.kill('SIGTERM');
          console.log(`\n-- profile of the mesh gateway (${file}), the rounds only, every row's turn included (idle is left out)`);
          console.log(summarizeProfile(JSON.parse(await readFile(file, 'utf8')) as Profile, 30, performance.now() - started));
        };
      }
      const port = Number((await gateway.waitFor(/hyphae gateway: ready mode=mesh .*listen=127\.0\.0\.1:(\d+)/, 60_000))[1]);
      return { port, pid: gateway.proc.pid! };
    };
    const gw = await startGateway(cliPath, opts.profileDir);
    const baseline = opts.baselineBuild ? await startGateway(path.join(opts.baselineBuild, 'src/cli/main.js'), undefined) : undefined;
    quota?.limit('gateway', [gw.pid]);
    if (baseline) quota?.limit('gateway-baseline', [baseline.pid]);

    /** --bytes: the bytes upstream (this process, CPU 0), registered as an instance of service `bytes`, and the ClientHello its load opens with. */
    const startBytes = async () => {
      const up = await startBytesUpstream();
      cleanups.push(() => up.close());
      const mesh = await createMesh({ controlPlane: cp.urls[0], token: await joinToken(cp, BYTES_SERVICE), caFile, service: BYTES_SERVICE, logger: silentLogger });
      cleanups.push(() => mesh.close());
      const registrar = (await mesh.edgeRoutes()).discovery?.registrar;
      if (!registrar) throw new Error('--bytes: the mesh has no registrar');
      await registrar.register({ address: '127.0.0.1', port: up.port, labels: {}, weight: 1 });
      return { port: up.port, hello: await clientHelloFor(BYTES_SNI) };
    };
    const token = await joinToken(cp, 'client');
    const client = async (endpoint: { address: string; port: number; cluster?: string }) => {
      const mesh = await createMesh({ controlPlane: cp.urls[0], token, caFile, service: 'client', resolver: fixedResolver(SERVICE, endpoint), logger: silentLogger });
      cleanups.push(() => mesh.close());
      return mesh;
    };
    const bytes = opts.bytes ? await startBytes() : undefined;
    const targets: (LoadTarget & { labels: string[] })[] = [];
    /** A row to `port` (the upstream itself, nginx, a gateway): the mesh client over TLS, or with --bytes the bytes load. */
    const row = async (name: string, port: number, proxied: boolean, labels: string[], pids: () => readonly number[]) => {
      if (bytes) {
        const load = bytesSend(port, bytes.hello);
        cleanups.push(async () => load.close());
        await untilBytesServed(name, load.send);
        targets.push({ name, send: load.send, labels, pids });
        return;
      }
      const mesh = await client({ address: '127.0.0.1', port, ...(proxied ? { cluster: CLUSTER } : {}) });
      await untilServed(name, mesh);
      targets.push({ name, send: poolSend(mesh.dispatcher, `http://${SERVICE}`), labels, pids });
    };
    await row(DIRECT, bytes?.port ?? upstreamPort, false, [], () => []);
    if (nginx) {
      const routes = { [SNI]: upstreamPort, ...(bytes ? { [BYTES_SNI]: bytes.port } : {}) };
      const proxy = await startNginx(nginx, dir, 'stream', streamConfig(dir, routes), pin.proxyLauncher);
      cleanups.push(() => proxy.stop());
      quota?.limit('nginx', proxy.pids());
      await row(NGINX, proxy.port, true, ['master', 'worker'], () => proxy.pids());
    }
    await row('mesh gateway', gw.port, true, ['gateway'], () => [gw.pid]);
    // The floor: Node moving the same bytes with the gateway's relay and nothing else (bench/lib/bare-relay.ts).
    const bare = startNode(path.join(buildDir, 'bench/lib/bare-relay.js'), [String(bytes?.port ?? upstreamPort)], {}, pin.proxyLauncher);
    cleanups.push(() => bare.kill());
    const barePort = Number((await bare.waitFor(/listening (\d+)/, 30_000))[1]);
    quota?.limit('bare-relay', [bare.proc.pid!]);
    await row(BARE, barePort, true, ['relay'], () => [bare.proc.pid!]);
    if (baseline) await row(BASELINE, baseline.port, true, ['gateway'], () => [baseline.pid]);

    started = performance.now();
    const results = await interleavedRounds(targets, opts);
    await profileReport?.();
    const rows = targets.map((t) => summarize(t.name, results.get(t.name)!, t.labels));
    const byName = new Map(rows.map((r) => [r.name, r]));
    const direct = byName.get(DIRECT)!;
    const g = byName.get('mesh gateway')!;
    const n = byName.get(NGINX);
    const b = byName.get(BASELINE);
    const floor = byName.get(BARE)!;
    const vsNginx = n ? compare(g, n) : undefined;
    const comparisons = [compare(g, direct), ...(n ? [compare(n, direct), vsNginx!, compare(floor, n)] : []), compare(g, floor), ...(b ? [compare(g, b)] : [])];
    const verdict = oneCoreEach(g, n, vsNginx, quota?.cores ?? 1);
    const goals: EdgeTarget[] = [target(`mesh gateway / nginx stream, ${verdict.judge}`, '>=', 0.8, verdict.value, vsNginx?.errors ?? false, n ? undefined : NGINX_MISSING)];
    const added = (r: EdgeRow) =>
      `${r.name}: p99 +${(r.p99ms - direct.p99ms).toFixed(2)} ms over direct (median rounds), proxy CPU ${r.proxyCpuUs.toFixed(1)} µs/req, ` +
      `${r.proxyBusy.toFixed(2)} of a core used, so ${Math.round(1e6 / r.proxyCpuUs).toLocaleString('en-US')} req/s at one saturated core`;
    return {
      title: `mesh gateway vs nginx stream SNI passthrough (bench/mesh-gateway.ts): ${opts.rounds} interleaved rounds x ${opts.durationMs} ms after a warm-up of ${opts.warmupRequests} requests (at most ${opts.warmupMs} ms) per row, ${opts.concurrency} concurrent keep-alive`,
      setup: [
        pin.describe,
        ...(quota ? [quota.describe] : []),
        opts.bytes
          ? `--bytes: each connection opens with a ClientHello for ${BYTES_SNI}, then ${REQUEST_BYTES}-byte requests and ${ANSWER_BYTES}-byte answers in clear, closed loop (bench/lib/raw-bytes.ts); load and upstream in this process (CPU 0)`
          : 'client: this process, a mesh with mTLS (service client); upstream: one wrapServer process (service web, STRICT); the TLS session is always client <-> upstream',
        `nginx: worker_processes 1, stream + ssl_preread, map of the SNI ${opts.bytes ? BYTES_SNI : SNI}; gateway: \`hyphae ${GATEWAY_ARGS.join(' ')}\``,
        ...(baseline ? [`${BASELINE}: the same command from ${opts.baselineBuild}`] : []),
        added(g),
        ...(n ? [added(n)] : []),
        ...(b ? [added(b)] : []),
        ...verdict.lines,
      ],
      rows,
      comparisons,
      targets: goals,
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
  // --quota CORES: this bench's own flag (bench/lib/cpu-quota.ts); the others are every edge bench's.
  const args = process.argv.slice(2);
  const at = args.indexOf('--quota');
  const quotaCores = at < 0 ? undefined : Number(args.splice(at, 2)[1]);
  const periodAt = args.indexOf('--quota-period-ms');
  const quotaPeriodMs = periodAt < 0 ? undefined : Number(args.splice(periodAt, 2)[1]);
  const bytesAt = args.indexOf('--bytes');
  const bytes = bytesAt >= 0 && args.splice(bytesAt, 1).length > 0;
  if (quotaCores !== undefined && !(quotaCores > 0 && quotaCores <= 1)) throw new Error('--quota takes a share of a core, in (0, 1]');
  const opts = edgeOptionsFromArgs(args, MESH_GATEWAY_DEFAULTS);
  console.log(`hyphae bench: ${machine()}`);
  printEdge(await meshGatewayVsNginx({ ...opts, bytes, ...(quotaCores === undefined ? {} : { quotaCores }), ...(quotaPeriodMs === undefined ? {} : { quotaPeriodMs }) }));
}
