/**
 * Per-process cost (issue 15): the mesh in the process against the two other
 * ways to get there — nothing (raw undici) and a sidecar pair (nginx) — in one
 * run, plain and mTLS, and what a meshed process holds in memory.
 *
 *   undici           undici Pool.request -> node:http server
 *   hyphae           mesh.request -> wrapServer (registered), both ends meshed through a real
 *                    control plane (a child process), resolved by name, telemetry on as shipped
 *   sidecar          undici Pool.request -> nginx (client side) -> nginx (server side) -> node:http
 *   undici (TLS)     undici Pool over TLS with a client certificate -> node:https verifying it
 *   hyphae (mTLS)    the same as hyphae on a secure control plane: STRICT mTLS, SPIFFE identities
 *   sidecar (mTLS)   the pair with mTLS between the sidecars (proxy_ssl_certificate, ssl_verify_client)
 *
 * One server process holds every listener behind one handler (bench/lib/cost-server.ts); the clients
 * are this process. Rounds are interleaved (bench/sidecar-rounds.ts); the memory half is in
 * bench/process-memory.ts; tables and targets in bench/sidecar-report.ts. Without nginx the sidecar
 * rows are skipped, with the line that installs it.
 *
 *   npm run bench:sidecar -- [--duration 5000] [--rounds 3] [--concurrency 32] [--calls 5000] [--memory-runs 3]
 *
 * Also the last section of `npm run bench`. Alone, it writes bench/results/sidecar.json.
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Agent, Pool, type Dispatcher } from 'undici';
import { createMesh } from '../src/index.js';
import { buildDir, repoRoot, startNode, type Child } from '../examples/lib/child.js';
import { startCostSetup } from './lib/cost-setup.js';
import { exitOnSignals } from './lib/exit-on-signal.js';
import { poolSend } from './lib/load.js';
import { findNginx, NGINX_MISSING, startSidecarPair, type SidecarPair } from './lib/nginx.js';
import { processMemory } from './process-memory.js';
import { compare, printSidecar, targets, type SidecarResult } from './sidecar-report.js';
import { costRounds, type CostTarget } from './sidecar-rounds.js';

export interface SidecarOptions {
  durationMs: number;
  rounds: number;
  concurrency: number;
  /** Calls made by each process of the memory half. */
  calls: number;
  /** Fresh processes per memory mode (median reported). */
  memoryRuns: number;
}

export const SIDECAR_DEFAULTS: SidecarOptions = { durationMs: 5_000, rounds: 3, concurrency: 32, calls: 5_000, memoryRuns: 3 };

const BODY = '{"ok":true,"service":"bench"}';

/** Every row's path reaches the server (the answer is its body), and the mTLS rows' servers refuse a peer without a certificate. */
async function preflight(rows: readonly CostTarget[], checks: { name: string; refused: () => Promise<boolean> }[], get: Record<string, () => Promise<string>>): Promise<void> {
  for (const t of rows) {
    const body = await get[t.name]!();
    if (body !== BODY) throw new Error(`${t.name}: the answer is not the server's: ${body.slice(0, 200)}`);
  }
  for (const c of checks) {
    if (!(await c.refused())) throw new Error(`${c.name}: a client without a certificate was served; the mTLS rows would not measure mTLS`);
  }
}

async function text(d: Dispatcher, origin: string, pathname = '/'): Promise<{ status: number; body: string }> {
  const r = await d.request({ origin, path: pathname, method: 'GET' });
  return { status: r.statusCode, body: await r.body.text() };
}

export async function sidecar(opts: SidecarOptions): Promise<SidecarResult> {
  const stopSignals = exitOnSignals();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-sidecar-'));
  // Also when the bench dies (an error, SIGINT): the 'exit' hooks kill every child (examples/lib/child.ts, bench/lib/nginx.ts).
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', removeDir);
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const skipped: string[] = [];
    const nginx = findNginx();
    if (!nginx) {
      skipped.push(NGINX_MISSING);
      console.log(NGINX_MISSING);
    }
    const { certs, plainCp, mtlsCp, clientToken, caFile, cacheDir, serverEnv } = await startCostSetup(dir, cleanups);

    const server: Child = startNode(path.join(buildDir, 'bench/lib/cost-server.js'), [], serverEnv);
    cleanups.push(() => server.kill());
    // A ceiling: two meshes start, one makes a key and gets it signed, both register.
    const ports = JSON.parse((await server.waitFor(/^listening (\{.*\})$/, 60_000))[1]!) as { plain: number; tls: number; mesh: number; meshMtls: number; counts: number };
    const countsPool = new Pool(`http://127.0.0.1:${ports.counts}`, { connections: 1 });
    cleanups.push(() => countsPool.close());
    /** Connections each of the server's listeners has accepted so far. */
    const accepted = async (listener: 'plain' | 'tls' | 'mesh' | 'meshMtls') => JSON.parse((await text(countsPool, `http://127.0.0.1:${ports.counts}`)).body)[listener] as number;

    let pairs: { plain: SidecarPair; mtls: SidecarPair } | undefined;
    if (nginx) {
      const plain = await startSidecarPair(nginx, dir, 'plain', ports.plain);
      cleanups.push(() => plain.stop());
      // mTLS between the sidecars only: the server side calls the workload in clear, as inside a pod.
      const mtls = await startSidecarPair(nginx, dir, 'mtls', ports.plain, certs);
      cleanups.push(() => mtls.stop());
      pairs = { plain, mtls };
    }

    const [ca, cert, key] = await Promise.all([readFile(certs.caCert), readFile(certs.clientCert), readFile(certs.clientKey)]);
    const plainOrigin = `http://127.0.0.1:${ports.plain}`;
    const tlsOrigin = `https://127.0.0.1:${ports.tls}`;
    const pool = new Pool(plainOrigin, { pipelining: 1 });
    const tlsPool = new Pool(tlsOrigin, { pipelining: 1, connect: { ca, cert, key } });
    cleanups.push(
      () => pool.close(),
      () => tlsPool.close(),
    );
    const plainMesh = await createMesh({ controlPlane: plainCp.urls[0]!, service: 'bench-client', cacheDir });
    cleanups.push(() => plainMesh.close());
    const mtlsMesh = await createMesh({ controlPlane: mtlsCp.urls[0]!, service: 'bench-client', token: clientToken, ca: mtlsCp.ca!, cacheDir });
    cleanups.push(() => mtlsMesh.close());
    const meshSend = (mesh: typeof plainMesh) => async () => {
      const r = await mesh.request('http://bench/');
      await r.body.dump();
      if (r.statusCode !== 200) throw new Error(`mesh.request answered ${r.statusCode}`);
    };

    const rows: CostTarget[] = [];
    const get: Record<string, () => Promise<string>> = {};
    const row = (t: CostTarget, body: () => Promise<string>) => {
      rows.push(t);
      get[t.name] = body;
    };
    const meshBody = (mesh: typeof plainMesh) => async () => (await mesh.request('http://bench/')).body.text();
    for (const variant of ['plain', 'mtls'] as const) {
      const tls = variant === 'mtls';
      const p = tls ? tlsPool : pool;
      const origin = tls ? tlsOrigin : plainOrigin;
      row(
        { name: tls ? 'undici Pool.request (TLS)' : 'undici Pool.request', variant, kind: 'undici', send: poolSend(p, origin), connections: () => accepted(tls ? 'tls' : 'plain') },
        async () => (await text(p, origin)).body,
      );
      const mesh = tls ? mtlsMesh : plainMesh;
      row({ name: tls ? 'mesh.request (mTLS)' : 'mesh.request', variant, kind: 'hyphae', send: meshSend(mesh), connections: () => accepted(tls ? 'meshMtls' : 'mesh') }, meshBody(mesh));
      const pair = pairs?.[variant];
      if (pair) {
        const sidecarOrigin = `http://127.0.0.1:${pair.port}`;
        const sidecarPool = new Pool(sidecarOrigin, { pipelining: 1 });
        cleanups.push(() => sidecarPool.close());
        let toSidecar = 0;
        sidecarPool.on('connect', () => toSidecar++);
        row(
          {
            name: tls ? 'nginx sidecar pair (mTLS)' : 'nginx sidecar pair',
            variant,
            kind: 'sidecar',
            send: poolSend(sidecarPool, sidecarOrigin),
            proxyCpuSeconds: () => pair.cpuSeconds(),
            // All three hops: to the client-side sidecar, between the sidecars, to the server.
            connections: async () => toSidecar + (await pair.accepted()) + (await accepted('plain')),
          },
          async () => (await text(sidecarPool, sidecarOrigin)).body,
        );
      }
    }

    const refusedWithoutCert = async (origin: string, connect: ConstructorParameters<typeof Agent>[0]) => {
      // Ceilings against a peer that neither answers nor closes, not expectations.
      const agent = new Agent({ ...connect, connections: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
      try {
        return (await text(agent, origin)).status !== 200;
      } catch {
        return true;
      } finally {
        await agent.destroy();
      }
    };
    const checks = [
      { name: 'node:https server', refused: () => refusedWithoutCert(tlsOrigin, { connect: { ca } }) },
      { name: 'STRICT mesh server (plaintext)', refused: () => refusedWithoutCert(`http://127.0.0.1:${ports.meshMtls}`, {}) },
    ];
    if (pairs) {
      const inbound = `https://127.0.0.1:${pairs.mtls.inboundPort}`;
      checks.push({ name: 'server-side nginx sidecar', refused: () => refusedWithoutCert(inbound, { connect: { ca, servername: certs.serverName } }) });
    }
    await preflight(rows, checks, get);

    const costRows = await costRounds(rows, server.proc.pid!, opts);
    const sidecarRssMiB = pairs ? { plain: pairs.plain.rssMiB(), mtls: pairs.mtls.rssMiB() } : undefined;
    const memory = await processMemory(
      { ports, certs: JSON.stringify(certs), plainCp: plainCp.urls[0]!, mtlsCp: mtlsCp.urls[0]!, mtlsToken: clientToken, mtlsCaFile: caFile, cacheDir },
      { calls: opts.calls, concurrency: opts.concurrency, runs: opts.memoryRuns },
    );
    const comparisons = compare(costRows);
    const result: SidecarResult = { rows: costRows, comparisons, memory, targets: targets(costRows, comparisons, memory, skipped), skipped };
    if (sidecarRssMiB) result.sidecarRssMiB = sidecarRssMiB;
    return result;
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    removeDir();
    process.off('exit', removeDir);
    stopSignals();
  }
}

export function describeSidecar(opts: SidecarOptions): string {
  return (
    `per-process cost (bench/sidecar): raw undici, mesh.request (both ends meshed, real control plane), an nginx sidecar pair; ` +
    `plain and mTLS; ${opts.concurrency} concurrent keep-alive, ${opts.rounds} interleaved rounds of ${opts.durationMs} ms, median; ` +
    `memory: ${opts.calls} calls per process, ${opts.memoryRuns} runs`
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: String(SIDECAR_DEFAULTS.durationMs) },
      rounds: { type: 'string', default: String(SIDECAR_DEFAULTS.rounds) },
      concurrency: { type: 'string', default: String(SIDECAR_DEFAULTS.concurrency) },
      calls: { type: 'string', default: String(SIDECAR_DEFAULTS.calls) },
      'memory-runs': { type: 'string', default: String(SIDECAR_DEFAULTS.memoryRuns) },
    },
  });
  const opts: SidecarOptions = {
    durationMs: Number(values.duration),
    rounds: Number(values.rounds),
    concurrency: Number(values.concurrency),
    calls: Number(values.calls),
    memoryRuns: Number(values['memory-runs']),
  };
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
  console.log(
    `hyphae bench: ${machine}; load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  console.log(describeSidecar(opts));
  const result = await sidecar(opts);
  printSidecar(result);
  await mkdir(path.join(repoRoot, 'bench/results'), { recursive: true });
  await writeFile(path.join(repoRoot, 'bench/results/sidecar.json'), `${JSON.stringify({ machine, date: new Date().toISOString(), options: opts, ...result }, null, 2)}\n`);
}
