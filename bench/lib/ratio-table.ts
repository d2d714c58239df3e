/** A bench's rows as a Markdown table, each row's req/s and client CPU per request as ratios to its baseline row. */
import os from 'node:os';
import type { Row } from '../overhead.js';

export function printRatioTable(title: string, rows: Row[]): void {
  const byName = new Map(rows.map((r) => [r.name, r]));
  console.log(`\n${title}`);
  console.log(`| client | req/s | p50 ms | p99 ms | client CPU µs/req | ratio (req/s; CPU) |\n|---|---:|---:|---:|---:|---|`);
  for (const r of rows) {
    const base = r.baseline ? byName.get(r.baseline) : undefined;
    const ratio = base ? `${(r.rps / base.rps).toFixed(2)}x; ${(r.cpuUsPerRequest! / base.cpuUsPerRequest!).toFixed(2)}x CPU` : 'baseline';
    console.log(`| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50ms.toFixed(2)} | ${r.p99ms.toFixed(2)} | ${r.cpuUsPerRequest!.toFixed(1)} | ${ratio} |`);
  }
}

/** The 1, 5 and 15 minute load averages, as each bench prints them before and after its run. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** The command-line options of a two-load client bench (small answers, then large ones), for parseArgs. */
export const TWO_LOAD_OPTIONS = {
  duration: { type: 'string', default: '3000' },
  rounds: { type: 'string', default: '5' },
  concurrency: { type: 'string', default: '64' },
  'large-concurrency': { type: 'string', default: '8' },
} as const;
