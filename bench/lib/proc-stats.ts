/**
 * CPU time and memory of another process, read from Linux's /proc (the bench
 * measures control planes and etcd members it started as children).
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times: 100 on every Linux the bench targets (getconf CLK_TCK). */
const TICKS = 100;

export interface ProcSample {
  /** User + system CPU seconds since the process started. */
  cpuSeconds: number;
  rssMiB: number;
  /** Peak resident set size. */
  peakRssMiB: number;
}

export function sample(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3 on: utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { cpuSeconds, rssMiB: kb('VmRSS') / 1024, peakRssMiB: kb('VmHWM') / 1024 };
}

/** CPU used by `pids` while `fn` runs, as a share of one core, and the wall time. */
export async function measure<T>(pids: readonly number[], fn: () => Promise<T>): Promise<{ result: T; seconds: number; cpuSeconds: number[] }> {
  const before = pids.map((p) => sample(p).cpuSeconds);
  const t0 = performance.now();
  const result = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = pids.map((p, i) => sample(p).cpuSeconds - before[i]!);
  return { result, seconds, cpuSeconds };
}
