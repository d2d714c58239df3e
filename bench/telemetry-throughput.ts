/**
 * What telemetry costs in throughput (issue 6): `mesh.request` from a mesh
 * client process to a `wrapServer` service process, 32 closed loops, with the
 * same two stacks in every mode, only telemetry differing:
 *
 *   off            telemetry: { enabled: false }: no telemetry layer in either stack (the baseline)
 *   no-sdk         the layers, no OpenTelemetry SDK anywhere (edge stats counted, nothing else)
 *   no-sdk-traced  the same, and every request carries an upstream's traceparent, which the
 *                  server checks and keeps for its handler's calls (AsyncLocalStorage)
 *   sdk-1pct       sdk-node in both processes: parent-based 1 % sampler, batch span processor;
 *                  every client call is a trace root (the sampler is asked per call)
 *   sdk-1pct-child the same, every client call made under an unsampled parent (a service's calls
 *                  while it handles one of the 99 % of requests the root sampler left out)
 *   chain-1pct     load generator -> middle -> server, the SDK in all three, the mesh's telemetry on
 *                  in the middle and the server (off in chain-off); the middle's SERVER span is the
 *                  root, its call a child: a request through a service, as traced in production.
 *                  `server` CPU is the middle's and the server's together
 *   sdk-1pct-metrics  sdk-1pct and a MeterProvider read every second
 *
 * Each mode has its own pair of processes (an SDK registers itself for a whole
 * process); all pairs run side by side, and rounds are interleaved (the order
 * rotates every round) so machine drift hits every mode alike. Reported: the
 * median round, and its ratio to `off` of the same run.
 *
 *   node build/bench/telemetry-throughput.js [--duration 3000] [--rounds 5] [--concurrency 32]
 *
 * To see where a mode's time goes: BENCH_PROFILE_DIR=/tmp/p (a CPU profile per process, mode and
 * round, taken in-process, so modes that share a process are profiled apart) and BENCH_PAIRS.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildDir } from '../examples/lib/child.js';
import { median, type LoadResult } from './lib/load.js';
import type { OverheadOptions, Row } from './overhead.js';

const ALL_MODES = ['off', 'no-sdk', 'off-traced', 'no-sdk-traced', 'sdk-off', 'sdk-1pct', 'sdk-1pct-child', 'chain-off', 'chain-1pct', 'sdk-metrics-off', 'sdk-1pct-metrics'] as const;
type Mode = (typeof ALL_MODES)[number];
/**
 * Modes that share a pair of processes: only the mesh's option differs between them. BENCH_PAIRS
 * (e.g. `[["sdk-off","sdk-1pct"]]`) runs only some; `[["sdk-off"],["sdk-1pct"]]` gives each mode processes
 * of its own. To profile modes apart, BENCH_PROFILE_DIR (profiles per mode and round, even in a shared
 * process; separate process pairs differ by more than the effects looked for).
 */
const PAIRS: Mode[][] = process.env.BENCH_PAIRS
  ? (JSON.parse(process.env.BENCH_PAIRS) as Mode[][])
  : [['off', 'no-sdk'], ['off-traced'], ['no-sdk-traced'], ['sdk-off', 'sdk-1pct', 'sdk-1pct-child'], ['chain-off', 'chain-1pct'], ['sdk-metrics-off', 'sdk-1pct-metrics']];
export const TELEMETRY_MODES: readonly Mode[] = ALL_MODES.filter((m) => PAIRS.some((p) => p.includes(m)));
/** What each mode is compared with: its own header-carrying baseline for the traced pass-through. */
const BASELINE: Record<Mode, Mode> = {
  off: 'off',
  'no-sdk': 'off',
  'off-traced': 'off-traced',
  'no-sdk-traced': 'off-traced',
  'sdk-off': 'off',
  'sdk-1pct': 'sdk-off',
  'sdk-1pct-child': 'sdk-off',
  'chain-off': 'chain-off',
  'chain-1pct': 'chain-off',
  'sdk-metrics-off': 'off',
  'sdk-1pct-metrics': 'sdk-metrics-off',
};

/** Tracing on with an SDK (1 % parent-based sampler, batch processor) costs <= 10 %; with no SDK <= 2 %. */
const TARGETS: [Mode, number][] = [
  ['no-sdk', 0.98],
  ['no-sdk-traced', 0.98],
  ['sdk-1pct', 0.9],
  ['chain-1pct', 0.9],
];

const script = path.join(buildDir, 'bench/lib/telemetry-peer.js');

/** A child with a message queue (one listener for its whole life). */
class Peer {
  readonly child: ChildProcess;
  #queue: unknown[] = [];
  #waiting: ((m: unknown) => void) | undefined;
  #exited = false;

  constructor(env: Record<string, string>) {
    // BENCH_EXEC_ARGV (JSON array, e.g. `["--trace-gc"]`): node flags for the bench processes (NODE_OPTIONS
    // does not take every V8 flag).
    const execArgv = process.env.BENCH_EXEC_ARGV ? (JSON.parse(process.env.BENCH_EXEC_ARGV) as string[]) : [];
    this.child = fork(script, [], { execArgv, env: { ...process.env, NODE_NO_WARNINGS: '1', ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m) => {
      if (this.#waiting) {
        const w = this.#waiting;
        this.#waiting = undefined;
        w(m);
      } else this.#queue.push(m);
    });
    this.child.once('exit', () => (this.#exited = true));
  }

  next<T>(timeoutMs = 60_000): Promise<T> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift() as T);
    if (this.#exited) return Promise.reject(new Error('bench process exited'));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        this.child.kill('SIGKILL');
        reject(new Error(`bench process silent for ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting = (m) => {
        clearTimeout(timer);
        resolve(m as T);
      };
    });
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = once(this.child, 'exit');
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

export interface TelemetryRow extends Row {
  mode: Mode;
  /** Median over rounds of (this mode's req/s / its baseline's req/s in the same round). */
  ratioToOff: number;
  /** Every round's ratio, in round order: their spread is the measurement's own noise. */
  ratios: number[];
  /** CPU time (user + system) per request in the client process and in the server process, median round, µs. */
  clientCpuUs: number;
  serverCpuUs: number;
  /** Sampled spans the client's SDK exported over the whole run (sdk-1pct). */
  spans?: number;
}

export async function telemetryThroughput({ durationMs, rounds, concurrency }: OverheadOptions): Promise<TelemetryRow[]> {
  const peers: Peer[] = [];
  try {
    const clients = new Map<Mode, Peer>();
    /** The processes that serve a mode's requests: the server, and for a chain the middle too. */
    const servers = new Map<Mode, Peer[]>();
    for (const pair of PAIRS) {
      const server = new Peer({ ROLE: 'server', MODES: pair.join(',') });
      peers.push(server);
      let { ports } = await server.next<{ ports: Record<string, number> }>();
      const serving = [server];
      if (pair.some((m) => m.startsWith('chain-'))) {
        const middle = new Peer({ ROLE: 'middle', MODES: pair.join(','), PORTS: JSON.stringify(ports) });
        peers.push(middle);
        serving.push(middle);
        ({ ports } = await middle.next<{ ports: Record<string, number> }>());
      }
      const client = new Peer({ ROLE: 'client', MODES: pair.join(','), PORTS: JSON.stringify(ports) });
      peers.push(client);
      await client.next();
      for (const m of pair) {
        clients.set(m, client);
        servers.set(m, serving);
      }
    }
    const serverCpu = async (mode: Mode, phase: 'before' | 'after') => {
      let sum = 0;
      for (const server of servers.get(mode)!) {
        server.child.send({ cmd: 'cpu', mode, phase });
        sum += (await server.next<{ cpu: number }>()).cpu;
      }
      return sum;
    };
    const run = async (mode: Mode, ms: number) => {
      const client = clients.get(mode)!;
      const before = await serverCpu(mode, 'before');
      client.child.send({ cmd: 'run', mode, durationMs: ms, concurrency });
      const out = await client.next<{ result: LoadResult; cpu: number; spans?: number }>(ms + 60_000);
      const server = (await serverCpu(mode, 'after')) - before;
      return { ...out, clientCpuUs: out.cpu / out.result.requests, serverCpuUs: server / out.result.requests };
    };
    // Warm up every mode (connections, JIT, the SDK's first exports).
    for (const mode of TELEMETRY_MODES) await run(mode, Math.min(2_000, durationMs));
    const results = new Map<Mode, LoadResult[]>(TELEMETRY_MODES.map((m) => [m, []]));
    const ratios = new Map<Mode, number[]>(TELEMETRY_MODES.map((m) => [m, []]));
    const cpu = new Map<Mode, { client: number[]; server: number[] }>(TELEMETRY_MODES.map((m) => [m, { client: [], server: [] }]));
    const spans = new Map<Mode, number>();
    for (let r = 0; r < rounds; r++) {
      // The order rotates every round, so no mode always runs right after the same other one.
      const order = TELEMETRY_MODES.map((_, i) => TELEMETRY_MODES[(i + r) % TELEMETRY_MODES.length]!);
      const rps = new Map<Mode, number>();
      for (const mode of order) {
        const { result, spans: s, clientCpuUs, serverCpuUs } = await run(mode, durationMs);
        results.get(mode)!.push(result);
        rps.set(mode, result.rps);
        cpu.get(mode)!.client.push(clientCpuUs);
        cpu.get(mode)!.server.push(serverCpuUs);
        if (s !== undefined) spans.set(mode, s);
        process.stderr.write(
          `  round ${r + 1}/${rounds} ${mode.padEnd(14)} ${result.rps.toFixed(0).padStart(6)} req/s  cpu/req client ${clientCpuUs.toFixed(1)} µs, server ${serverCpuUs.toFixed(1)} µs\n`,
        );
      }
      for (const mode of TELEMETRY_MODES) ratios.get(mode)!.push(rps.get(mode)! / (rps.get(BASELINE[mode]) ?? NaN));
    }
    return TELEMETRY_MODES.map((mode) => {
      const rs = results.get(mode)!;
      const row: TelemetryRow = {
        mode,
        name: `telemetry ${mode}`,
        rps: median(rs.map((x) => x.rps)),
        p50ms: median(rs.map((x) => x.p50ms)),
        p99ms: median(rs.map((x) => x.p99ms)),
        errors: rs.reduce((s, x) => s + x.errors, 0),
        ratioToOff: median(ratios.get(mode)!),
        ratios: ratios.get(mode)!.map((x) => Math.round(x * 1000) / 1000),
        clientCpuUs: median(cpu.get(mode)!.client),
        serverCpuUs: median(cpu.get(mode)!.server),
      };
      if (BASELINE[mode] !== mode) row.baseline = `telemetry ${BASELINE[mode]}`;
      if (spans.has(mode)) row.spans = spans.get(mode)!;
      return row;
    });
  } finally {
    await Promise.all(peers.map((p) => p.stop()));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '9' }, concurrency: { type: 'string', default: '32' } } });
  const rows = await telemetryThroughput({ durationMs: Number(values.duration), rounds: Number(values.rounds), concurrency: Number(values.concurrency) });
  printTelemetryRows(rows);
}

/** The table: throughput and its ratio to the mode's baseline; CPU per request (client + server) and its ratio. */
export function printTelemetryRows(rows: TelemetryRow[]): void {
  const byMode = new Map(rows.map((r) => [r.mode, r]));
  const cpuOf = (r: TelemetryRow) => r.clientCpuUs + r.serverCpuUs;
  console.log(
    `${'mode'.padEnd(18)}${'req/s'.padStart(10)}${'p50 ms'.padStart(10)}${'p99 ms'.padStart(10)}${'ratio'.padStart(9)}${'cpu µs/req'.padStart(12)}${'client'.padStart(9)}${'server'.padStart(9)}${'cpu ratio'.padStart(11)}   baseline`,
  );
  for (const r of rows) {
    const base = byMode.get(BASELINE[r.mode]) ?? r;
    console.log(
      `${r.mode.padEnd(18)}${r.rps.toFixed(0).padStart(10)}${r.p50ms.toFixed(3).padStart(10)}${r.p99ms.toFixed(3).padStart(10)}${`${r.ratioToOff.toFixed(3)}x`.padStart(9)}` +
        `${cpuOf(r).toFixed(1).padStart(12)}${r.clientCpuUs.toFixed(1).padStart(9)}${r.serverCpuUs.toFixed(1).padStart(9)}${`${(cpuOf(base) / cpuOf(r)).toFixed(3)}x`.padStart(11)}` +
        `   ${BASELINE[r.mode] === r.mode ? '-' : BASELINE[r.mode]}${r.errors ? `  ${r.errors} errors` : ''}${r.spans !== undefined ? `  (${r.spans} spans exported)` : ''}`,
    );
  }
  // Issue 6's targets, by throughput and by CPU per request (the steadier of the two on a shared machine).
  for (const [mode, min] of TARGETS) {
    const r = byMode.get(mode);
    const base = r && byMode.get(BASELINE[mode]);
    if (!r || !base) continue;
    const cpu = cpuOf(base) / cpuOf(r);
    const sorted = [...r.ratios].sort((a, b) => a - b);
    const spread = `rounds ${sorted[0]!.toFixed(3)}-${sorted.at(-1)!.toFixed(3)}, ${sorted.filter((x) => x >= min).length}/${sorted.length} at or above`;
    console.log(
      `target ${mode} >= ${min.toFixed(2)}x of ${BASELINE[mode]}: throughput ${r.ratioToOff.toFixed(3)}x ${r.ratioToOff >= min ? 'PASS' : 'FAIL'} (${spread}), cpu ${cpu.toFixed(3)}x ${cpu >= min ? 'PASS' : 'FAIL'}`,
    );
  }
}
