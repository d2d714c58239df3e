/**
 * CPU pinning for the edge benches (issue 16 compares proxies "with one core each"): the proxy under
 * test on one CPU, the load generator and the upstream on another, with `taskset` (util-linux). Without
 * taskset or with a single CPU nothing is pinned, and `pinning()` says so for the report.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface Pinning {
  /** Whether pinning is in force (asked for, taskset present, at least two CPUs). */
  on: boolean;
  /** Prefix of a child's command that runs it on the proxies' CPU (empty when off). */
  proxyLauncher: readonly string[];
  /** Prefix of a child's command that runs it on the load generator's CPU (empty when off). */
  loadLauncher: readonly string[];
  /** One line for the report: where each process ran. */
  describe: string;
  /** Puts this process (every thread) on the load generator's CPU; returns what restores its affinity. */
  pinSelf(): () => void;
}

const LOAD_CPU = 0;
const PROXY_CPU = 1;

function tasksetWorks(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The affinity list of this process as taskset prints it (`0,1`, `0-1`): restored after a pinned bench. */
function ownAffinity(): string {
  return /:\s*(\S+)\s*$/.exec(execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' }))![1]!;
}

export function pinning(asked: boolean): Pinning {
  const why = !asked ? 'not asked for' : os.availableParallelism() < 2 ? 'a single CPU' : !tasksetWorks() ? 'taskset not found (apt-get install -y util-linux)' : undefined;
  if (why !== undefined) {
    return { on: false, proxyLauncher: [], loadLauncher: [], describe: `no CPU pinning (${why})`, pinSelf: () => () => {} };
  }
  return {
    on: true,
    proxyLauncher: ['taskset', '-c', String(PROXY_CPU)],
    loadLauncher: ['taskset', '-c', String(LOAD_CPU)],
    describe: `taskset: the proxies under test on CPU ${PROXY_CPU}, the load generator (the bench process) and the upstream on CPU ${LOAD_CPU}`,
    pinSelf() {
      const before = ownAffinity();
      // -a: every thread (libuv's pool, V8's helpers), not only the main one.
      execFileSync('taskset', ['-a', '-cp', String(LOAD_CPU), String(process.pid)], { stdio: 'ignore' });
      return () => execFileSync('taskset', ['-a', '-cp', before, String(process.pid)], { stdio: 'ignore' });
    },
  };
}
