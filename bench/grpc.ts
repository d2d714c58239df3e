/**
 * gRPC in the mesh (issue 18): a meshed grpc-js client against plain grpc-js, to the same grpc-js server
 * over mTLS, in one run. The server (bench/lib/grpc-echo-server.ts, its own process) is a mesh service,
 * `bench-grpc`, joined with `serveGrpc` and `meshGrpcServerOptions` on a secure control plane; both rows
 * call it:
 *
 * - plain grpc-js: `grpc.credentials.createSsl(...)` to its address, with a certificate of the client's
 *   identity from the same CA and the same check of the server's SPIFFE ID the mesh makes: what an
 *   application would write by hand;
 * - meshed grpc-js: `meshGrpcClient(mesh, 'bench-grpc')`, by name (discovery, the mesh's balancer, its
 *   interceptors, the workload's SVID).
 *
 * Two loads: a small unary call (32-byte answers, --concurrency in flight) and a larger one (64 KiB
 * answers, --large-concurrency in flight). Rounds interleaved (bench/lib/load.ts), median round; the
 * client's CPU per request; the load average before and after.
 *
 *   node build/bench/grpc.js [--rounds 5] [--duration 3000] [--concurrency 64] [--large-concurrency 8]
 *                            [--only plain|meshed] [--profile]
 *
 * --profile: this process is profiled (node:inspector) over the measured rounds and the profile summed
 * (bench/lib/cpu-profile.ts): where a row's client CPU goes. Slower; not a figure to report. With
 * --only meshed it is the meshed client's alone.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createMesh } from '../src/index.js';
import { meshGrpcClient } from '../src/grpc/index.js';
import { buildDir, startNode, type Child } from '../examples/lib/child.js';
import { joinToken, startFileControlPlane, workloadCertificate } from './lib/control-planes.js';
import { summarizeProfile, type Profile } from './lib/cpu-profile.js';
import { EchoClient } from './lib/grpc-echo-service.js';
import { interleavedRounds, median, type LoadTarget } from './lib/load.js';
import { loadAverage, printRatioTable, TWO_LOAD_OPTIONS } from './lib/ratio-table.js';
import { spiffeServerCheck } from './lib/spiffe-server-check.js';
import { medianRow, type Row } from './overhead.js';

export interface GrpcBenchOptions {
  durationMs: number;
  rounds: number;
  concurrency: number;
  largeConcurrency: number;
  only?: 'plain' | 'meshed';
  profile?: boolean;
}

const PLAIN = 'plain grpc-js (createSsl)';
const MESHED = 'meshed grpc-js (meshGrpcClient)';
const REQUEST = Buffer.alloc(16, 'q');

/** A unary call as a promise that fails on any status but OK. */
function unary(client: EchoClient, method: 'small' | 'large'): () => Promise<void> {
  return () => new Promise<void>((resolve, reject) => void client[method](REQUEST, (err) => (err ? reject(err) : resolve())));
}

function ready(client: grpc.Client, ms: number): Promise<void> {
  return new Promise((resolve, reject) => client.waitForReady(Date.now() + ms, (err) => (err ? reject(err) : resolve())));
}

/** A row; the meshed one also with its req/s over the plain row's, round by round. */
export type GrpcRow = Row & { pairedRatios?: number[] };

export async function grpcBench(opts: GrpcBenchOptions): Promise<{ small: GrpcRow[]; large: GrpcRow[]; profile?: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-grpc-'));
  const children: Child[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const cp = await startFileControlPlane(true, dir);
    cleanups.push(() => cp.stop());
    const caFile = path.join(dir, 'control-plane-ca.pem');
    await writeFile(caFile, cp.ca!);
    const env = { HYPHAE_CONTROL_PLANE: cp.urls[0]!, HYPHAE_CA_FILE: caFile };

    const server = startNode(path.join(buildDir, 'bench/lib/grpc-echo-server.js'), [], { ...env, HYPHAE_SERVICE: 'bench-grpc', HYPHAE_TOKEN: await joinToken(cp, 'bench-grpc') });
    children.push(server);
    const port = Number((await server.waitFor(/listening (\d+)/, 30_000))[1]);
    const serverPid = () => [server.proc.pid!];

    // The meshed client: by name, through the mesh (the server is the one instance of bench-grpc).
    const mesh = await createMesh({ controlPlane: env.HYPHAE_CONTROL_PLANE, caFile, service: 'bench-client', token: await joinToken(cp, 'bench-client') });
    cleanups.push(() => mesh.close());
    const m = meshGrpcClient(mesh, 'bench-grpc');
    const meshed = new EchoClient(m.target, m.credentials, m.options);
    cleanups.push(async () => meshed.close());

    // The plain client: a certificate of the same identity from the same CA, the same check of the server.
    const cert = await workloadCertificate(cp, 'bench-client');
    const credentials = grpc.credentials.createSsl(Buffer.from(cert.roots.join('\n')), Buffer.from(cert.key), Buffer.from(cert.cert), {
      checkServerIdentity: spiffeServerCheck(cert.trustDomain, `spiffe://${cert.trustDomain}/ns/default/sa/bench-grpc`),
    });
    const plain = new EchoClient(`127.0.0.1:${port}`, credentials);
    cleanups.push(async () => plain.close());

    // Each channel connected (the meshed one once discovery gave it the instance) before any round.
    if (opts.only !== 'meshed') await ready(plain, 30_000).catch((err: Error) => Promise.reject(new Error(`${PLAIN}: ${err.message}`)));
    if (opts.only !== 'plain') await ready(meshed, 30_000).catch((err: Error) => Promise.reject(new Error(`${MESHED}: ${err.message}`)));

    const targetsOf = (method: 'small' | 'large'): (LoadTarget & { baseline?: string })[] =>
      [
        // The server's CPU per call too (printed per round): what a meshed call costs the server besides.
        { name: PLAIN, send: unary(plain, method), pids: serverPid, pidsName: 'server' },
        { name: MESHED, baseline: PLAIN, send: unary(meshed, method), pids: serverPid, pidsName: 'server' },
      ].filter((t) => !opts.only || t.name === (opts.only === 'plain' ? PLAIN : MESHED));
    const load = async (method: 'small' | 'large', concurrency: number): Promise<GrpcRow[]> => {
      const targets = targetsOf(method);
      const results = await interleavedRounds(targets, { concurrency, durationMs: opts.durationMs, rounds: opts.rounds }, (t, res) => {
        if (res.errors > 0) throw new Error(`${res.errors} failed calls in ${t.name}`);
      });
      const rows = targets.map((t) => medianRow(t.name, results.get(t.name)!, opts.only ? undefined : t.baseline));
      if (opts.only) return rows;
      // Each round's meshed req/s over the plain row's of the same round (the two ran back to back): on a
      // shared machine steadier than the ratio of the two medians, which may come from different rounds.
      const plainRounds = results.get(PLAIN)!;
      const paired = results.get(MESHED)!.map((r, i) => r.rps / plainRounds[i]!.rps);
      return rows.map((r) => (r.name === MESHED ? { ...r, pairedRatios: paired } : r));
    };

    const session = opts.profile ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    const started = performance.now();
    process.stderr.write(`small answers (32 B), ${opts.concurrency} in flight\n`);
    const small = await load('small', opts.concurrency);
    process.stderr.write(`large answers (64 KiB), ${opts.largeConcurrency} in flight\n`);
    const large = await load('large', opts.largeConcurrency);
    if (!session) return { small, large };
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    return { small, large, profile: summarizeProfile(profile as unknown as Profile, 30, performance.now() - started) };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await Promise.all(children.reverse().map((c) => c.kill()));
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      ...TWO_LOAD_OPTIONS,
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
    },
  });
  if (values.only !== undefined && values.only !== 'plain' && values.only !== 'meshed') throw new Error(`--only plain|meshed, not ${values.only}`);
  const opts: GrpcBenchOptions = {
    durationMs: Number(values.duration),
    rounds: Number(values.rounds),
    concurrency: Number(values.concurrency),
    largeConcurrency: Number(values['large-concurrency']),
    ...(values.only ? { only: values.only } : {}),
    profile: values.profile,
  };
  console.log(`hyphae gRPC bench: ${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, Node ${process.version}, grpc-js ${grpcVersion()}, load average ${loadAverage()}`);
  console.log(`${opts.rounds} interleaved rounds of ${opts.durationMs} ms, median round${opts.profile ? ' (profiled: not figures to report)' : ''}`);
  const { small, large, profile } = await grpcBench(opts);
  for (const [title, rows] of [
    [`Unary, small answers (32 B), ${opts.concurrency} in flight`, small],
    [`Unary, larger answers (64 KiB), ${opts.largeConcurrency} in flight`, large],
  ] as const) {
    printRatioTable(title, rows);
    const paired = rows.find((r) => r.pairedRatios)?.pairedRatios;
    if (paired) console.log(`\nmeshed/plain req/s round by round: ${paired.map((x) => x.toFixed(2)).join(' ')} (median ${median(paired).toFixed(2)}x)`);
  }
  if (profile) console.log(`\nCPU profile of this process over the rounds\n${profile}`);
  console.log(`\nload average after: ${loadAverage()}`);
  process.exit(0);
}

function grpcVersion(): string {
  return (createRequire(import.meta.url)('@grpc/grpc-js/package.json') as { version: string }).version;
}
