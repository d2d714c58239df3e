/**
 * `npm run bench`: every benchmark, printed as a table with ratios to its
 * baseline, and written to bench/results/latest.json for docs/benchmarks.md.
 *
 *   npm run bench -- --duration 3000 --rounds 5 --concurrency 32 --rate 2000
 *       [--sidecar-duration 5000 --sidecar-rounds 3]
 *
 * The per-process cost section (bench/sidecar.ts) has rounds of its own, as
 * issue 15 measured it; `npm run bench:sidecar` runs it alone.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../examples/lib/child.js';
import { clientStack } from './client-stack.js';
import { lbSlowEndpoint, type LbRow } from './lb-slow-endpoint.js';
import { mtls } from './mtls.js';
import { overhead, type Row } from './overhead.js';
import { printRegexRows, regexAttacks, regexRoutes, type RegexAttackRow, type RegexRouteRow } from './regex-match.js';
import { serverStackEmitCost, type ServerStackRow } from './server-stack-cost.js';
import { describeSidecar, SIDECAR_DEFAULTS, sidecar } from './sidecar.js';
import { printSidecar, type SidecarResult } from './sidecar-report.js';
import { printTelemetryRows, telemetryThroughput, type TelemetryRow } from './telemetry-throughput.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '32' },
    rate: { type: 'string', default: '2000' },
    'sidecar-duration': { type: 'string', default: String(SIDECAR_DEFAULTS.durationMs) },
    'sidecar-rounds': { type: 'string', default: String(SIDECAR_DEFAULTS.rounds) },
  },
});
const opts = { durationMs: Number(values.duration), rounds: Number(values.rounds), concurrency: Number(values.concurrency), rate: Number(values.rate) };
const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;

console.log(`hyphae bench: ${machine}`);
console.log(`${opts.concurrency} concurrent, ${opts.rounds} interleaved rounds of ${opts.durationMs} ms, median round`);

function table(title: string, rows: Row[]): (Row & { ratio?: number })[] {
  const byName = new Map(rows.map((r) => [r.name, r]));
  console.log('');
  console.log(title);
  console.log(
    `${'client'.padEnd(28)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'errors'.padStart(8)}${'hs/10k'.padStart(9)}${'cpu µs'.padStart(9)}   ratio (req/s; client CPU per request)`,
  );
  for (const r of rows) {
    const base = r.baseline ? byName.get(r.baseline) : undefined;
    const cpuRatio = base?.cpuUsPerRequest && r.cpuUsPerRequest ? `; ${(r.cpuUsPerRequest / base.cpuUsPerRequest).toFixed(3)}x CPU` : '';
    const ratio = base ? `${(r.rps / base.rps).toFixed(3)}x ${r.baseline}${cpuRatio}` : '(baseline)';
    const hs = r.handshakesPer10k === undefined ? '-' : r.handshakesPer10k.toFixed(2);
    const cpu = r.cpuUsPerRequest === undefined ? '-' : r.cpuUsPerRequest.toFixed(2);
    console.log(
      `${r.name.padEnd(28)}${r.rps.toFixed(0).padStart(10)}${r.p50ms.toFixed(3).padStart(10)}${r.p99ms.toFixed(3).padStart(10)}${String(r.errors).padStart(8)}${hs.padStart(9)}${cpu.padStart(9)}   ${ratio}`,
    );
  }
  return rows.map((r) => {
    const base = r.baseline ? byName.get(r.baseline) : undefined;
    return base ? { ...r, ratio: r.rps / base.rps } : r;
  });
}

console.log('client overhead (plain HTTP)...');
const overheadRows = table('client overhead: plain HTTP/1.1', await overhead(opts));
console.log('\nmTLS...');
const mtlsRows = table('mTLS: mesh.request vs undici Pool over TLS, same server and CA (hs/10k: handshakes per 10,000 requests)', await mtls(opts));

console.log('\nfull client stack...');
const stackRows = table("full client stack (route, deadline, limit, retry + budget, perTry, balance, outlier) vs the walking skeleton's, no failures", await clientStack(opts));

console.log('');
console.log(
  `balancers with a slow instance (bench/lb-slow-endpoint): 5 instances, one 20 ms slower; open loop at ${opts.rate} req/s, ${opts.rounds} interleaved rounds of ${opts.durationMs} ms, median round`,
);
const lb = await lbSlowEndpoint(opts);
const healthyP99 = lb[0]!.p99ms;
console.log(`${'case'.padEnd(28)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'slow share'.padStart(12)}   p99 / all-healthy p99`);
for (const r of lb) {
  console.log(
    `${r.name.padEnd(28)}${r.rps.toFixed(0).padStart(10)}${r.p50ms.toFixed(3).padStart(10)}${r.p99ms.toFixed(3).padStart(10)}${`${(r.slowShare * 100).toFixed(2)} %`.padStart(12)}   ${(r.p99ms / healthyP99).toFixed(2)}x`,
  );
}

console.log('');
// Its ratios move by a few percent from round to round (two or three processes on the machine's cores): more
// rounds than the other benches, so that the median is worth reading against a 2 % or 10 % target.
const telemetryOpts = { ...opts, rounds: Math.max(opts.rounds, 15) };
console.log(
  `telemetry (bench/telemetry-throughput): mesh.request -> wrapServer, a process pair per mode, ${opts.concurrency} concurrent, ${telemetryOpts.rounds} interleaved rounds of ${opts.durationMs} ms; ratio = median over rounds of req/s / the baseline's req/s in the same round`,
);
const telemetry = await telemetryThroughput(telemetryOpts);
printTelemetryRows(telemetry);

console.log('');
console.log('route regexes (bench/regex-match): a route with a regex path and a regex header match, in-process, 7 interleaved rounds of 200,000 matches, median');
const regex = { routes: regexRoutes({ rounds: 7, matches: 200_000 }), attacks: regexAttacks() };
printRegexRows(regex.routes, regex.attacks);

console.log('');
console.log(
  `server stack (bench/server-stack-cost --emit): wrapServer's own CPU per request over a plain http.Server, in-process, real request objects, no sockets; ${Math.max(opts.rounds, 7)} interleaved rounds of 100,000 requests, median`,
);
const serverStack: ServerStackRow[] = await serverStackEmitCost({ rounds: Math.max(opts.rounds, 7), requests: 100_000, concurrency: opts.concurrency });

console.log('');
const sidecarOpts = { ...SIDECAR_DEFAULTS, concurrency: opts.concurrency, durationMs: Number(values['sidecar-duration']), rounds: Number(values['sidecar-rounds']) };
console.log(describeSidecar(sidecarOpts));
// The last section: a failure here (no openssl, say) is reported without losing the sections above.
const perProcess = await sidecar(sidecarOpts).catch((err: unknown) => {
  console.log(`per-process cost failed: ${err instanceof Error ? err.message : String(err)}`);
  return { error: String(err) };
});
if (!('error' in perProcess)) printSidecar(perProcess);

const out: {
  machine: string;
  date: string;
  options: typeof opts;
  overhead: (Row & { ratio?: number })[];
  mtls: (Row & { ratio?: number })[];
  clientStack: (Row & { ratio?: number })[];
  lbSlowEndpoint: (LbRow & { p99VsHealthy: number })[];
  telemetry: TelemetryRow[];
  regex: { routes: RegexRouteRow[]; attacks: RegexAttackRow[] };
  serverStack: ServerStackRow[];
  sidecar: SidecarResult | { error: string };
} = {
  machine,
  date: new Date().toISOString(),
  options: opts,
  overhead: overheadRows,
  mtls: mtlsRows,
  clientStack: stackRows,
  lbSlowEndpoint: lb.map((r) => ({ ...r, p99VsHealthy: r.p99ms / healthyP99 })),
  telemetry,
  regex,
  serverStack,
  sidecar: perProcess,
};
await mkdir(path.join(repoRoot, 'bench/results'), { recursive: true });
await writeFile(path.join(repoRoot, 'bench/results/latest.json'), `${JSON.stringify(out, null, 2)}\n`);
