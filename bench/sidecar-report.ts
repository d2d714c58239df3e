/**
 * Ratios, targets and tables of the per-process cost bench (bench/sidecar.ts).
 * Ratios are taken per round (rows of the same round ran minutes apart at
 * most, so drift cancels) and the median over rounds is reported with the
 * spread; the targets are issue 15's, printed PASS or FAIL as measured.
 */
import type { CallsMemory, MemoryResult } from './process-memory.js';
import type { CostRow, Kind, Variant } from './sidecar-rounds.js';
import { median } from './lib/load.js';

export interface Comparison {
  variant: Variant;
  row: Kind;
  baseline: Kind;
  /** Median over rounds of row req/s / baseline req/s in the same round. */
  ratio: number;
  ratios: number[];
  /** Median over rounds of row p99 - baseline p99 in the same round, ms. */
  addedP99ms: number;
  /** Total CPU per request (client + server + proxies) of the row over the baseline's (medians). */
  cpuRatio: number;
}

export interface Target {
  name: string;
  value?: number;
  op: '>=' | '<=';
  limit: number;
  unit: string;
  verdict: 'PASS' | 'FAIL' | 'SKIP';
  note?: string;
}

export interface SidecarResult {
  rows: CostRow[];
  comparisons: Comparison[];
  memory: MemoryResult;
  /** RSS of one sidecar (master + worker) after the load rounds, MiB, by variant. */
  sidecarRssMiB?: Record<Variant, number>;
  targets: Target[];
  /** Why rows were left out (nginx missing). */
  skipped: string[];
}

const VARIANT_LABEL: Record<Variant, string> = { plain: 'plain', mtls: 'mTLS' };

export function compare(rows: CostRow[]): Comparison[] {
  const find = (variant: Variant, kind: Kind) => rows.find((r) => r.variant === variant && r.kind === kind);
  const out: Comparison[] = [];
  for (const variant of ['plain', 'mtls'] as const) {
    for (const [row, baseline] of [
      ['hyphae', 'undici'],
      ['hyphae', 'sidecar'],
      ['sidecar', 'undici'],
    ] as const) {
      const a = find(variant, row);
      const b = find(variant, baseline);
      if (!a || !b) continue;
      const n = Math.min(a.rounds.length, b.rounds.length);
      const ratios = Array.from({ length: n }, (_, i) => a.rounds[i]!.rps / b.rounds[i]!.rps);
      out.push({
        variant,
        row,
        baseline,
        ratio: median(ratios),
        ratios,
        addedP99ms: median(Array.from({ length: n }, (_, i) => a.rounds[i]!.p99ms - b.rounds[i]!.p99ms)),
        cpuRatio: a.totalCpuUs / b.totalCpuUs,
      });
    }
  }
  return out;
}

function target(name: string, value: number | undefined, op: '>=' | '<=', limit: number, unit: string, note?: string): Target {
  const t: Target = { name, op, limit, unit, verdict: 'SKIP' };
  if (value !== undefined && Number.isFinite(value)) {
    t.value = value;
    t.verdict = (op === '>=' ? value >= limit : value <= limit) ? 'PASS' : 'FAIL';
  }
  if (note) {
    t.note = note;
    // Rows with failed requests measured something else than the path they name: no PASS on them.
    if (t.verdict === 'PASS' && note.includes('errors')) t.verdict = 'FAIL';
  }
  return t;
}

export function targets(rows: CostRow[], comparisons: Comparison[], memory: MemoryResult, skipped: string[]): Target[] {
  const out: Target[] = [];
  const cmp = (variant: Variant, row: Kind, baseline: Kind) => comparisons.find((c) => c.variant === variant && c.row === row && c.baseline === baseline);
  const errors = (variant: Variant, ...kinds: Kind[]) => {
    const n = rows.filter((r) => r.variant === variant && kinds.includes(r.kind)).reduce((s, r) => s + r.errors, 0);
    return n ? `${n} errors in the rows` : undefined;
  };
  const skipNote = skipped.length ? 'nginx not found' : undefined;
  for (const [variant, min] of [
    ['plain', 0.92],
    ['mtls', 0.9],
  ] as const) {
    out.push(target(`mesh.request / raw undici, ${VARIANT_LABEL[variant]}`, cmp(variant, 'hyphae', 'undici')?.ratio, '>=', min, 'x', errors(variant, 'hyphae', 'undici')));
  }
  for (const [variant, min] of [
    ['plain', 2.0],
    ['mtls', 1.5],
  ] as const) {
    const c = cmp(variant, 'hyphae', 'sidecar');
    out.push(target(`mesh.request / nginx sidecar pair, ${VARIANT_LABEL[variant]}`, c?.ratio, '>=', min, 'x', c ? errors(variant, 'hyphae', 'sidecar') : skipNote));
  }
  for (const variant of ['plain', 'mtls'] as const) {
    out.push(target(`added p99 of mesh.request over raw undici, ${VARIANT_LABEL[variant]}`, cmp(variant, 'hyphae', 'undici')?.addedP99ms, '<=', 0.1, 'ms', errors(variant, 'hyphae', 'undici')));
  }
  const rss = (mode: string) => memory.calls.find((c) => c.mode === mode)?.afterCalls.rssMiB;
  for (const [variant, plain, meshed] of [
    ['plain', 'calls-undici', 'calls-mesh'],
    ['mtls', 'calls-undici-tls', 'calls-mesh-mtls'],
  ] as const) {
    const a = rss(meshed);
    const b = rss(plain);
    out.push(
      target(
        `added RSS of a meshed process after ${(memory.calls[0]?.calls ?? 0).toLocaleString('en-US')} calls, ${VARIANT_LABEL[variant]}`,
        a !== undefined && b !== undefined ? a - b : undefined,
        '<=',
        15,
        'MiB',
      ),
    );
  }
  return out;
}

const f = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

export function printSidecar(r: SidecarResult): void {
  for (const s of r.skipped) console.log(s);
  console.log(
    `${'client -> server'.padEnd(32)}${'req/s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'+p99 ms'.padStart(9)}${'errors'.padStart(8)}` +
      `   cpu µs/req:${'client'.padStart(8)}${'server'.padStart(8)}${'proxies'.padStart(9)}${'total'.padStart(8)}${'conns/10k'.padStart(11)}`,
  );
  for (const row of r.rows) {
    const base = r.rows.find((b) => b.variant === row.variant && b.kind === 'undici');
    const added = row.kind === 'undici' ? '-' : f(r.comparisons.find((c) => c.variant === row.variant && c.row === row.kind && c.baseline === 'undici')?.addedP99ms ?? NaN, 3);
    console.log(
      `${row.name.padEnd(32)}${f(row.rps, 0).padStart(9)}${f(row.p50ms, 3).padStart(9)}${f(row.p99ms, 3).padStart(9)}${(base ? added : '-').padStart(9)}${String(row.errors).padStart(8)}` +
        `   ${''.padStart(11)}${f(row.clientCpuUs, 1).padStart(8)}${f(row.serverCpuUs, 1).padStart(8)}${f(row.proxyCpuUs, 1).padStart(9)}${f(row.totalCpuUs, 1).padStart(8)}${f(row.connectionsPer10k, 2).padStart(11)}`,
    );
  }
  console.log("conns/10k: connections opened on every hop of the row's path per 10,000 requests in the measured rounds (0: every hop keeps its connections alive)");
  console.log("ratios (median over rounds of the same round's req/s ratio; rounds' spread; total CPU per request against the other row):");
  const label: Record<Kind, string> = { undici: 'raw undici', hyphae: 'mesh.request', sidecar: 'nginx sidecar pair' };
  for (const c of r.comparisons) {
    const sorted = [...c.ratios].sort((a, b) => a - b);
    console.log(
      `  ${VARIANT_LABEL[c.variant].padEnd(6)}${label[c.row].padEnd(20)}/ ${label[c.baseline].padEnd(20)}${`${f(c.ratio, 3)}x`.padStart(8)}` +
        `  (rounds ${f(sorted[0]!, 3)}-${f(sorted.at(-1)!, 3)})  CPU/req ${f(c.cpuRatio, 2)}x`,
    );
  }

  console.log('');
  console.log(`memory: a process doing ${(r.memory.calls[0]?.calls ?? 0).toLocaleString('en-US')} calls (RSS; heap used), and importing a package alone; fresh processes, median of runs`);
  console.log(`${'process'.padEnd(32)}${'RSS MiB'.padStart(9)}${'heap'.padStart(8)}${'after GC'.padStart(10)}${'heap'.padStart(8)}`);
  const calls = new Map(r.memory.calls.map((c) => [c.mode, c]));
  const callLabel: Record<string, string> = {
    'calls-undici': 'undici Pool, plain',
    'calls-mesh': 'mesh.request, plain',
    'calls-undici-tls': 'undici Pool, TLS + client cert',
    'calls-mesh-mtls': 'mesh.request, mTLS',
  };
  const gcRss = (m: CallsMemory['mode']) => calls.get(m)?.afterGc?.rssMiB ?? NaN;
  for (const [plain, meshed] of [
    ['calls-undici', 'calls-mesh'],
    ['calls-undici-tls', 'calls-mesh-mtls'],
  ] as const) {
    for (const mode of [plain, meshed]) {
      const c = calls.get(mode);
      if (!c) continue;
      console.log(
        `${callLabel[mode]!.padEnd(32)}${f(c.afterCalls.rssMiB, 1).padStart(9)}${f(c.afterCalls.heapUsedMiB, 1).padStart(8)}${f(c.afterGc?.rssMiB ?? NaN, 1).padStart(10)}${f(c.afterGc?.heapUsedMiB ?? NaN, 1).padStart(8)}`,
      );
    }
    const a = calls.get(meshed);
    const b = calls.get(plain);
    if (a && b) {
      console.log(
        `${'  added by the mesh'.padEnd(32)}${`+${f(a.afterCalls.rssMiB - b.afterCalls.rssMiB, 1)}`.padStart(9)}${`+${f(a.afterCalls.heapUsedMiB - b.afterCalls.heapUsedMiB, 1)}`.padStart(8)}` +
          `${`+${f(gcRss(meshed) - gcRss(plain), 1)}`.padStart(10)}${`+${f((a.afterGc?.heapUsedMiB ?? NaN) - (b.afterGc?.heapUsedMiB ?? NaN), 1)}`.padStart(8)}`,
      );
    }
  }
  const none = r.memory.imports.find((i) => i.mode === 'import-none');
  console.log(`${'import'.padEnd(32)}${'RSS MiB'.padStart(9)}${'heap'.padStart(8)}${'after GC'.padStart(10)}${'heap'.padStart(8)}${'+RSS'.padStart(8)}${'ms'.padStart(7)}`);
  for (const i of r.memory.imports) {
    const label = i.mode === 'import-none' ? 'node alone' : `import('${i.mode.slice('import-'.length)}')`;
    const added = none && i !== none ? `+${f(i.afterImport.rssMiB - none.afterImport.rssMiB, 1)}` : '-';
    console.log(
      `${label.padEnd(32)}${f(i.afterImport.rssMiB, 1).padStart(9)}${f(i.afterImport.heapUsedMiB, 1).padStart(8)}${f(i.afterGc?.rssMiB ?? NaN, 1).padStart(10)}${f(i.afterGc?.heapUsedMiB ?? NaN, 1).padStart(8)}${added.padStart(8)}${f(i.importMs, 0).padStart(7)}`,
    );
  }
  const hy = r.memory.imports.find((i) => i.mode === 'import-hyphae');
  const un = r.memory.imports.find((i) => i.mode === 'import-undici');
  if (hy && un)
    console.log(
      `  import('hyphae') over import('undici'): +${f(hy.afterImport.rssMiB - un.afterImport.rssMiB, 1)} MiB RSS, +${f(hy.afterImport.heapUsedMiB - un.afterImport.heapUsedMiB, 1)} MiB heap`,
    );
  if (r.sidecarRssMiB) {
    console.log(`one nginx sidecar (master + worker) after the load rounds: ${f(r.sidecarRssMiB.plain, 1)} MiB plain, ${f(r.sidecarRssMiB.mtls, 1)} MiB mTLS`);
  }

  console.log('');
  for (const t of r.targets) {
    const value = t.value === undefined ? '-' : `${f(t.value, t.unit === 'x' ? 3 : t.unit === 'ms' ? 3 : 1)}${t.unit === 'x' ? 'x' : ` ${t.unit}`}`;
    const limit = `${t.unit === 'x' ? `${t.limit.toFixed(2)}x` : `${t.limit} ${t.unit}`}`;
    console.log(`target ${t.name} ${t.op} ${limit}: ${value} ${t.verdict}${t.note ? ` (${t.note})` : ''}`);
  }
}
