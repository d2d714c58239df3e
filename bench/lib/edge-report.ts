/**
 * Figures, ratios and targets of the edge benches (issue 16: bench/proxy-pair.ts, bench/gateway-nginx.ts):
 * each row's median round, a subject against its nginx baseline as the median of the same round's
 * ratios (drift on a shared machine hits both rows of a round alike), and the targets as PASS/FAIL.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { median, type RoundResult } from './load.js';

export interface EdgeRow {
  name: string;
  /** Median round of each figure; errors summed over the rounds. */
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** CPU µs per request of the proxies on the row's path, all processes together (median round). */
  proxyCpuUs: number;
  /** The same, per process (labels in `proxyLabels`). */
  proxyCpuUsEach: number[];
  proxyLabels: string[];
  /** Share of one core the proxies used during a round (median): near 1 with one core each, the proxy was the bottleneck. */
  proxyBusy: number;
  rounds: RoundResult[];
}

export interface EdgeComparison {
  subject: string;
  baseline: string;
  /** Median over rounds of subject / baseline req/s of the same round, and the rounds' range. */
  rpsRatio: number;
  rpsRange: [number, number];
  /** Median over rounds of subject / baseline p99. */
  p99Ratio: number;
  /** Median over rounds of subject / baseline proxy CPU per request. */
  cpuRatio: number;
  /** Whether either row failed a request (a row with errors never passes). */
  errors: boolean;
}

export interface EdgeTarget {
  name: string;
  op: '>=' | '<=';
  limit: number;
  value: number | undefined;
  verdict: 'PASS' | 'FAIL' | 'pending';
  note?: string;
}

export interface EdgeResult {
  title: string;
  /** How processes were placed (CPU pinning), how the rows were set up. */
  setup: string[];
  rows: EdgeRow[];
  comparisons: EdgeComparison[];
  targets: EdgeTarget[];
}

export function summarize(name: string, rounds: RoundResult[], proxyLabels: string[]): EdgeRow {
  const m = (f: (r: RoundResult) => number) => median(rounds.map(f));
  const total = (r: RoundResult) => r.cpuUs.reduce((a, b) => a + b, 0);
  return {
    name,
    rps: m((r) => r.rps),
    p50ms: m((r) => r.p50ms),
    p99ms: m((r) => r.p99ms),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
    proxyCpuUs: m(total),
    proxyCpuUsEach: proxyLabels.map((_, i) => m((r) => r.cpuUs[i] ?? NaN)),
    proxyLabels,
    proxyBusy: m((r) => (total(r) * r.rps) / 1e6),
    rounds,
  };
}

export function compare(subject: EdgeRow, baseline: EdgeRow): EdgeComparison {
  const n = Math.min(subject.rounds.length, baseline.rounds.length);
  const per = (f: (r: RoundResult) => number) => Array.from({ length: n }, (_, i) => f(subject.rounds[i]!) / f(baseline.rounds[i]!));
  const rps = per((r) => r.rps);
  return {
    subject: subject.name,
    baseline: baseline.name,
    rpsRatio: median(rps),
    rpsRange: [Math.min(...rps), Math.max(...rps)],
    p99Ratio: median(per((r) => r.p99ms)),
    cpuRatio: median(per((r) => r.cpuUs.reduce((a, b) => a + b, 0))),
    errors: subject.errors > 0 || baseline.errors > 0,
  };
}

export function target(name: string, op: '>=' | '<=', limit: number, value: number | undefined, errors: boolean, pending?: string): EdgeTarget {
  if (value === undefined || pending !== undefined) return { name, op, limit, value, verdict: 'pending', note: pending ?? 'not measured' };
  const met = op === '>=' ? value >= limit : value <= limit;
  const t: EdgeTarget = { name, op, limit, value, verdict: met && !errors ? 'PASS' : 'FAIL' };
  if (errors) t.note = 'requests failed';
  return t;
}

const f = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

export function printEdge(r: EdgeResult): void {
  console.log(`\n${r.title}`);
  for (const line of r.setup) console.log(`  ${line}`);
  console.log(
    `${'row'.padEnd(34)}${'req/s'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'errors'.padStart(8)}${'proxy CPU µs/req'.padStart(18)}${'proxy cores'.padStart(13)}  per process`,
  );
  for (const row of r.rows) {
    const each = row.proxyLabels.map((l, i) => `${l} ${f(row.proxyCpuUsEach[i]!, 0)}`).join(', ');
    console.log(
      `${row.name.padEnd(34)}${f(row.rps, 0).padStart(8)}${f(row.p50ms, 2).padStart(9)}${f(row.p99ms, 2).padStart(9)}${String(row.errors).padStart(8)}` +
        `${(row.proxyLabels.length ? f(row.proxyCpuUs, 1) : '-').padStart(18)}${(row.proxyLabels.length ? f(row.proxyBusy, 2) : '-').padStart(13)}  ${each || '-'}`,
    );
  }
  for (const row of r.rows) {
    // Connections made during each round (bench/lib/connection-census.ts): a steady load should make none.
    const keys = [...new Set(row.rounds.flatMap((x) => Object.keys(x.counters ?? {})))];
    if (keys.length === 0) continue;
    console.log(`${row.name}, per round (${row.rounds.length}): ${keys.map((k) => `${k} ${row.rounds.map((x) => x.counters?.[k] ?? '-').join('/')}`).join('; ')}`);
  }
  for (const c of r.comparisons) {
    console.log(
      `${c.subject} / ${c.baseline}: req/s ${f(c.rpsRatio, 3)}x (rounds ${f(c.rpsRange[0], 3)}-${f(c.rpsRange[1], 3)}), p99 ${f(c.p99Ratio, 2)}x, proxy CPU/req ${f(c.cpuRatio, 2)}x${c.errors ? ' (requests failed)' : ''}`,
    );
  }
  for (const t of r.targets) {
    console.log(`target ${t.name} ${t.op} ${t.limit}x: ${t.value === undefined ? '-' : `${f(t.value, 3)}x`} ${t.verdict}${t.note ? ` (${t.note})` : ''}`);
  }
}

/** The answer of bench/lib/echo-server.ts and bench/lib/mtls-echo-server.ts: a proxy's own answer is never taken for it. */
export const UPSTREAM_BODY = '{"ok":true,"service":"bench"}';

export interface EdgeOptions {
  durationMs: number;
  rounds: number;
  concurrency: number;
  /**
   * Warm-up per target before the rounds: `warmupRequests` requests, within `warmupMs` at most. Counted in
   * requests, not time: a Node proxy is compiled by V8 as requests go through it, and on a busy machine it
   * may run at a few hundred requests a second, so 1 s is a few hundred requests. (It did not explain the
   * hyphae pair's slow rounds: they came after this warm-up too; docs/benchmarks.md, "Edges".)
   */
  warmupRequests: number;
  warmupMs: number;
  /** The proxies on one CPU, the load generator and the upstream on the other (bench/lib/cpu-pin.ts). */
  pin: boolean;
  /** bench/proxy-pair.ts: run the hyphae proxies under `--cpu-prof`, keep the profiles here and print their summaries. */
  profileDir?: string;
  /** bench/gateway-nginx.ts: another build's folder, whose gateway runs beside this build's (before and after in one run). */
  baselineBuild?: string;
}

/** --duration, --warmup, --warmup-requests, --rounds, --concurrency, --pin / --no-pin, --profile, --baseline-build of an edge bench's command line. */
export function edgeOptionsFromArgs(args: string[], defaults: EdgeOptions): EdgeOptions {
  const { values } = parseArgs({
    args,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      concurrency: { type: 'string' },
      pin: { type: 'boolean' },
      'no-pin': { type: 'boolean' },
      profile: { type: 'string' },
      'warmup-requests': { type: 'string' },
      'baseline-build': { type: 'string' },
    },
  });
  return {
    ...(values.profile ? { profileDir: path.resolve(values.profile) } : {}),
    ...(values['baseline-build'] ? { baselineBuild: path.resolve(values['baseline-build']) } : {}),
    durationMs: Number(values.duration ?? defaults.durationMs),
    warmupMs: Number(values.warmup ?? defaults.warmupMs),
    warmupRequests: Number(values['warmup-requests'] ?? defaults.warmupRequests),
    rounds: Number(values.rounds ?? defaults.rounds),
    concurrency: Number(values.concurrency ?? defaults.concurrency),
    pin: values['no-pin'] ? false : (values.pin ?? defaults.pin),
  };
}

/** The machine line every edge report starts with. */
export function machine(): string {
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  return `${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism()}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}; load average ${load}`;
}
