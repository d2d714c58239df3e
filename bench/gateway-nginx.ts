/**
 * `hyphae gateway` against nginx as an edge reverse proxy (issue 16), plain HTTP and HTTPS in front, in
 * one run, to the same Node upstream:
 *
 *   nginx (HTTP|HTTPS)    undici Pool -> nginx-light, one worker (bench/lib/nginx.ts) -> plain HTTP -> upstream
 *   gateway (HTTP|HTTPS)  undici Pool -> `hyphae gateway --name edge` (the real CLI, a child process)
 *                         -> the mesh client stack, mTLS with the gateway's SPIFFE identity -> upstream
 *
 * The upstream is one process (bench/lib/mtls-echo-server.ts): mesh service `web` behind the library's
 * wrapServer, registered with a secure control plane (a child process). Its PeerAuthentication is
 * PERMISSIVE, so that nginx reaches the same listener in clear, as nginx fronts a Node service without a
 * mesh, while the gateway speaks mTLS to it, as it does in a mesh (STRICT everywhere else). The gateway is
 * configured as an operator would: a Gateway (`edge`: an HTTP and an HTTPS listener on free ports; the
 * HTTPS one with the same openssl-made certificate nginx serves) and a Route attached to it, applied with
 * `hyphae apply`. Readiness: a request through each front, polled (bounded) until the upstream answers.
 *
 * CPU: with --pin (the default) nginx (master and worker) and the gateway run on CPU 1, the load generator
 * (this process) and the upstream on CPU 0 (taskset), "one core each". The report gives req/s, p50, p99,
 * each proxy's CPU per request and the share of its core it used (near 1: the proxy was the bottleneck).
 * Targets: the gateway at >= 0.6x nginx's req/s and its p99 <= 2x nginx's, in front of HTTP and of HTTPS.
 *
 * Until `hyphae gateway` exists in the CLI this runs the nginx half alone, says so, and the gateway
 * targets are "pending".
 *
 *   npm run build && node build/bench/gateway-nginx.js [--duration 5000] [--warmup-requests 30000] [--warmup 60000] [--rounds 5] [--concurrency 32] [--no-pin] [--profile DIR] [--baseline-build DIR]
 *
 * --profile DIR: the gateway runs under `--cpu-prof` (slower: not a figure to report), its profile kept in DIR
 * and summed at the end (bench/lib/cpu-profile.ts, as bench/proxy-pair.ts does for the proxies).
 *
 * --baseline-build DIR: a second gateway, the CLI of another build (DIR is its `build` folder, e.g. main's
 * in a checkout of its own), serves the same Gateway on other ports, beside this build's, and its rows
 * ("gateway baseline (HTTP|HTTPS)") run interleaved with the others: before and after a change measured in
 * one run, on the same machine state, reported as this build's gateway / the baseline's.
 *
 * Also half of `npm run bench:edges` (bench/edges.ts).
 */
import { rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { buildDir, cliPath, startCommand, startNode, type Child } from '../examples/lib/child.js';
import { censusReader } from './lib/connection-census.js';
import { joinToken, startFileControlPlane, type BenchSetup } from './lib/control-planes.js';
import { pinning } from './lib/cpu-pin.js';
import { summarizeProfile, type Profile } from './lib/cpu-profile.js';
import { compare, edgeOptionsFromArgs, machine, printEdge, summarize, target, UPSTREAM_BODY, type EdgeOptions, type EdgeResult, type EdgeTarget } from './lib/edge-report.js';
import { exitOnSignals } from './lib/exit-on-signal.js';
import { interleavedRounds, poolSend, type LoadTarget } from './lib/load.js';
import { findNginx, freePort, NGINX_MISSING, startReverseProxy } from './lib/nginx.js';
import { makeCerts, type CertFiles } from './lib/openssl-certs.js';

export const GATEWAY_DEFAULTS: EdgeOptions = { durationMs: 5_000, warmupRequests: 30_000, warmupMs: 60_000, rounds: 5, concurrency: 32, pin: true };

export const GATEWAY_MISSING = '`hyphae gateway` is not in this build of the CLI: the gateway rows are skipped, its targets pending';

/** The Gateway resource's name; the gateway process's identity is its service of the same name. */
const GATEWAY = 'edge';
const SERVICE = 'web';

/** Whether the CLI has the command: `hyphae gateway --help` exits 0 (an unknown command exits 2). */
async function gatewayAvailable(): Promise<boolean> {
  const help = startNode(cliPath, ['gateway', '--help']);
  return (await help.exited) === 0;
}

/** `hyphae apply -f <file>` as an operator runs it; fails with the CLI's output. */
async function apply(cp: BenchSetup, caFile: string, file: string): Promise<void> {
  const child = startNode(cliPath, ['apply', '-f', file], { HYPHAE_CONTROL_PLANE: cp.urls[0], HYPHAE_ADMIN_TOKEN: cp.adminToken, HYPHAE_CA_FILE: caFile });
  const code = await child.exited;
  if (code !== 0) throw new Error(`hyphae apply -f ${file} exited ${code}:\n${child.lines.join('\n')}`);
}

function resources(ports: { http: number; https: number }, certs: CertFiles): string {
  return `apiVersion: hyphae.dev/v1
kind: Service
metadata: { name: ${SERVICE} }
---
# nginx calls the upstream in clear, the gateway with mTLS: the same listener takes both.
apiVersion: hyphae.dev/v1
kind: PeerAuthentication
metadata: { name: ${SERVICE}-permissive }
spec:
  selector: { service: ${SERVICE} }
  mode: PERMISSIVE
---
apiVersion: hyphae.dev/v1
kind: Gateway
metadata: { name: ${GATEWAY} }
spec:
  listeners:
    - { name: http, port: ${ports.http}, protocol: HTTP }
    - name: https
      port: ${ports.https}
      protocol: HTTPS
      tls: { certificateFile: ${certs.serverCert}, keyFile: ${certs.serverKey} }
---
apiVersion: hyphae.dev/v1
kind: Route
metadata: { name: ${SERVICE} }
spec:
  parentRefs:
    - { kind: Gateway, name: ${GATEWAY} }
  rules:
    - backendRefs:
        - { name: ${SERVICE} }
`;
}

/**
 * Polls `GET /` through a front until the upstream's answer comes back. A ceiling against a gateway that
 * never routes (its config, discovery and certificate arrive after it listens), not an expectation.
 */
async function untilServed(name: string, pool: Pool, origin: string, child?: Child, ceilingMs = 60_000): Promise<void> {
  const deadline = performance.now() + ceilingMs;
  let last = 'no answer yet';
  for (let attempt = 0; performance.now() < deadline; attempt++) {
    if (child && child.proc.exitCode !== null) throw new Error(`${name} exited (${child.proc.exitCode}):\n${child.lines.join('\n')}`);
    try {
      const r = await pool.request({ origin, path: '/', method: 'GET', headersTimeout: 5_000, bodyTimeout: 5_000 });
      const body = await r.body.text();
      if (r.statusCode === 200 && body === UPSTREAM_BODY) return;
      last = `${r.statusCode} ${body.slice(0, 200)}`;
    } catch (err) {
      last = String(err);
    }
    // Between attempts: the gateway is still connecting (no event of its own to wait on from outside).
    await new Promise((r) => setTimeout(r, Math.min(500, 20 * 2 ** attempt)));
  }
  throw new Error(`${name} did not serve the upstream within ${ceilingMs} ms; last: ${last}${child ? `\n${child.lines.join('\n')}` : ''}`);
}

export async function gatewayVsNginx(opts: EdgeOptions): Promise<EdgeResult> {
  const stopSignals = exitOnSignals();
  const pin = pinning(opts.pin);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-gateway-'));
  // Also when the bench dies: the 'exit' hooks of examples/lib/child.ts and bench/lib/nginx.ts kill every child.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeDir);
  const cleanups: (() => Promise<unknown>)[] = [];
  const unpin = pin.pinSelf();
  /** When the rounds started, and the gateway's profile summary after them (--profile). */
  let started = 0;
  let profileReport: (() => Promise<void>) | undefined;
  try {
    const nginx = findNginx();
    if (!nginx) console.log(NGINX_MISSING);
    const withGateway = await gatewayAvailable();
    if (!withGateway) console.log(GATEWAY_MISSING);
    const certs = await makeCerts(dir);
    const cp = await startFileControlPlane(true, dir);
    cleanups.push(() => cp.stop());
    const caFile = path.join(dir, 'ca.pem');
    await writeFile(caFile, cp.ca!);
    const ports = { http: await freePort(), https: await freePort() };
    const file = path.join(dir, 'edge.yaml');
    await writeFile(file, resources(ports, certs));
    await apply(cp, caFile, file);

    const meshEnv = { HYPHAE_CONTROL_PLANE: cp.urls[0], HYPHAE_CA_FILE: caFile, HYPHAE_DRAIN_DELAY_MS: '0' };
    const upstream = startNode(path.join(buildDir, 'bench/lib/mtls-echo-server.js'), [], { ...meshEnv, HYPHAE_SERVICE: SERVICE, HYPHAE_TOKEN: await joinToken(cp, SERVICE) }, pin.loadLauncher);
    cleanups.push(() => upstream.kill());
    // A ceiling: the upstream makes a key, has it signed and registers.
    const upstreamPort = Number((await upstream.waitFor(/listening (\d+)/, 60_000))[1]);

    const ca = await readFile(certs.caCert);
    const pools: Pool[] = [];
    cleanups.push(() => Promise.all(pools.map((p) => p.close())));
    const pool = (origin: string) => {
      const p = new Pool(origin, { connections: opts.concurrency, ...(origin.startsWith('https:') ? { connect: { ca } } : {}) });
      pools.push(p);
      return p;
    };
    const targets: (LoadTarget & { labels: string[] })[] = [];
    const row = async (name: string, origin: string, labels: string[], pids: () => readonly number[], child?: Child, counters?: () => Promise<Record<string, number>>) => {
      const p = pool(origin);
      await untilServed(name, p, origin, child);
      targets.push({ name, send: poolSend(p, origin), labels, pids, ...(counters ? { counters } : {}) });
    };
    const fronts = { http: 'HTTP', https: 'HTTPS' } as const;
    for (const front of ['http', 'https'] as const) {
      if (nginx) {
        const proxy = await startReverseProxy(nginx, dir, `edge-${front}`, upstreamPort, front === 'https' ? certs : undefined, pin.proxyLauncher);
        cleanups.push(() => proxy.stop());
        await row(`nginx (${fronts[front]})`, `${front}://127.0.0.1:${proxy.port}`, ['master', 'worker'], () => proxy.pids());
      }
    }
    if (withGateway) {
      const token = await joinToken(cp, GATEWAY);
      const gatewayRows = async (name: string, cli: string, bound: { http: number; https: number }, profileDir: string | undefined) => {
        // Loopback only, no admin listener (its default port could be taken); the identity is the service named --name.
        // A baseline binds the Gateway's ports elsewhere (--port), so that both builds serve the same Gateway.
        const remap = bound === ports ? [] : (['http', 'https'] as const).flatMap((f) => ['--port', `${ports[f]}=${bound[f]}`]);
        const args = ['gateway', '--name', GATEWAY, '--host', '127.0.0.1', '--admin', 'off', ...remap];
        // The census preload (this build's, whichever gateway it watches) counts the gateway's new connections,
        // its GC and its event loop's stalls (bench/lib/connection-census.ts), read per round.
        const census = `--import=${pathToFileURL(path.join(buildDir, 'bench/lib/connection-census.js')).href}`;
        const gatewayEnv = { ...meshEnv, HYPHAE_TOKEN: token, HYPHAE_BENCH_CENSUS: '1', NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${census}`.trim() };
        // --profile DIR: under --cpu-prof (on the command line: NODE_OPTIONS refuses it); slower, not a figure to report.
        const prof = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=gateway-${process.pid}.cpuprofile`] : [];
        const [command = process.execPath, ...rest] = [...pin.proxyLauncher, process.execPath, ...prof, cli, ...args];
        const gateway = startCommand(command, rest, gatewayEnv, cli);
        // SIGKILL: its graceful drain would only lengthen the bench's end (with --profile, SIGTERM: node writes the profile on exit).
        cleanups.push(() => gateway.kill(profileDir ? 'SIGTERM' : 'SIGKILL'));
        if (profileDir) {
          const file = path.join(profileDir, `gateway-${process.pid}.cpuprofile`);
          const roundsStart = () => started;
          profileReport = async () => {
            await gateway.kill('SIGTERM');
            console.log(`\n-- profile of the gateway (${file}), the rounds only, every row's turn included (idle is left out)`);
            console.log(summarizeProfile(JSON.parse(await readFile(file, 'utf8')) as Profile, 30, performance.now() - roundsStart()));
          };
        }
        const pid = gateway.proc.pid!;
        const read = censusReader(gateway);
        for (const front of ['http', 'https'] as const) {
          const counters = async () => {
            const c = await read();
            return {
              // New connections from the load (a TLS handshake each for HTTPS) and to the upstream (mTLS, each a handshake).
              'load->gateway': c.accepted[String(bound[front])] ?? 0,
              'gateway->upstream mTLS': c.connected[String(upstreamPort)] ?? 0,
              'connect errors': c.connectErrors,
              // A growth, like every counter here: the heap's change over the round.
              'heap MiB': c.heapUsedMiB ?? 0,
              // Where a tail would come from: GC, and event-loop stalls, ours or the scheduler's (connection-census.ts).
              'gc ms': c.gcMs ?? 0,
              'gc pauses >=10ms': c.gcPauses10 ?? 0,
              'loop stalls >=20ms': c.loopStalls20 ?? 0,
              'of which descheduled': c.loopStallsDescheduled ?? 0,
              'loop stalls >=50ms': c.loopStalls50 ?? 0,
            };
          };
          await row(`${name} (${fronts[front]})`, `${front}://127.0.0.1:${bound[front]}`, ['gateway'], () => [pid], gateway, counters);
        }
      };
      await gatewayRows('gateway', cliPath, ports, opts.profileDir);
      if (opts.baselineBuild) {
        await gatewayRows('gateway baseline', path.join(opts.baselineBuild, 'src/cli/main.js'), { http: await freePort(), https: await freePort() }, undefined);
      }
    }

    started = performance.now();
    const results = await interleavedRounds(targets, opts);
    await profileReport?.();
    const rows = targets.map((t) => summarize(t.name, results.get(t.name)!, t.labels));
    const byName = new Map(rows.map((r) => [r.name, r]));
    const comparisons = [];
    const goals: EdgeTarget[] = [];
    for (const front of Object.values(fronts)) {
      const g = byName.get(`gateway (${front})`);
      const n = byName.get(`nginx (${front})`);
      const c = g && n ? compare(g, n) : undefined;
      if (c) comparisons.push(c);
      const pending = !withGateway ? 'pending the gateway process' : !nginx ? NGINX_MISSING : undefined;
      goals.push(target(`gateway / nginx (${front}), req/s`, '>=', 0.6, c?.rpsRatio, c?.errors ?? false, pending));
      goals.push(target(`gateway / nginx (${front}), p99`, '<=', 2, c?.p99Ratio, c?.errors ?? false, pending));
      // Before and after (--baseline-build): no target, a ratio of the same round's figures.
      const b = byName.get(`gateway baseline (${front})`);
      if (g && b) comparisons.push(compare(g, b));
    }
    return {
      title: `gateway vs nginx as an edge proxy (bench/gateway-nginx.ts): ${opts.rounds} interleaved rounds x ${opts.durationMs} ms after a warm-up of ${opts.warmupRequests} requests (at most ${opts.warmupMs} ms) per row, ${opts.concurrency} concurrent keep-alive`,
      setup: [
        pin.describe,
        `nginx: worker_processes 1, plain HTTP to the upstream; gateway: ${withGateway ? '`hyphae gateway --name edge --host 127.0.0.1 --admin off`, mTLS to the upstream' : 'not run (no `hyphae gateway` in this CLI)'}`,
        ...(opts.baselineBuild && withGateway ? [`gateway baseline: the same command from ${opts.baselineBuild}, other ports (--port)`] : []),
        'upstream: one wrapServer process (service web, PERMISSIVE) for every row; HTTPS: one RSA 2048 certificate for both fronts, keep-alive clients',
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
  const opts = edgeOptionsFromArgs(process.argv.slice(2), GATEWAY_DEFAULTS);
  console.log(`hyphae bench: ${machine()}`);
  printEdge(await gatewayVsNginx(opts));
}
