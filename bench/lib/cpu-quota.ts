/**
 * A CPU budget per proxy (cgroup `cpu`: v1 `cpu.cfs_quota_us`, or v2 `cpu.max`), so that a proxy is
 * saturated on a machine whose load generator cannot saturate a whole core: "one core each" scaled down to
 * `cores` of a core each, the same budget for every proxy, each in its own cgroup. Needs root and a cgroup
 * `cpu` controller; `cpuQuota` says why not otherwise. The groups are removed at the end (their processes
 * first moved back to the root group, when any is left).
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The kernel's default CFS period: the budget is given as `cores` x this, then the group waits out the rest. */
const DEFAULT_PERIOD_US = 100_000;

interface Layout {
  root: string;
  limit(dir: string, quotaUs: number, periodUs: number): void;
}

function layout(): Layout | string {
  const v1 = '/sys/fs/cgroup/cpu';
  if (existsSync(path.join(v1, 'cpu.cfs_quota_us')) || existsSync(path.join(v1, 'cgroup.procs'))) {
    return {
      root: v1,
      limit(dir, quotaUs, periodUs) {
        writeFileSync(path.join(dir, 'cpu.cfs_period_us'), String(periodUs));
        writeFileSync(path.join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
      },
    };
  }
  const v2 = '/sys/fs/cgroup';
  if (existsSync(path.join(v2, 'cgroup.subtree_control')) && /\bcpu\b/.test(readFileSync(path.join(v2, 'cgroup.subtree_control'), 'utf8'))) {
    return { root: v2, limit: (dir, quotaUs, periodUs) => writeFileSync(path.join(dir, 'cpu.max'), `${quotaUs} ${periodUs}`) };
  }
  return 'no cgroup cpu controller (v1 /sys/fs/cgroup/cpu, or v2 with cpu in cgroup.subtree_control)';
}

export interface CpuQuota {
  cores: number;
  describe: string;
  /** Puts these processes (every thread) in a group of their own limited to `cores`. */
  limit(name: string, pids: readonly number[]): void;
  /** Removes the groups made. */
  remove(): void;
}

/**
 * `periodMs`: how the budget is sliced. With the default 100 ms a proxy at 0.3 of a core runs 30 ms then is
 * frozen for 70 ms, which no dedicated core does to it; a shorter or longer period shows how much of a
 * figure is that freezing rather than the proxy (a process with a larger working set resumes colder).
 */
export function cpuQuota(cores: number, periodMs = DEFAULT_PERIOD_US / 1000): CpuQuota {
  const l = layout();
  if (typeof l === 'string') throw new Error(`--quota: ${l}`);
  const periodUs = Math.round(periodMs * 1000);
  if (!(periodUs >= 1_000 && periodUs <= 1_000_000)) throw new Error(`--quota-period-ms takes 1 to 1000, got ${periodMs}`);
  const quotaUs = Math.max(1_000, Math.round(cores * periodUs));
  const made: string[] = [];
  return {
    cores: quotaUs / periodUs,
    describe: `cgroup cpu quota: each proxy in a group of its own, ${quotaUs / 1000} ms of CPU per ${periodUs / 1000} ms (${quotaUs / periodUs} of a core)`,
    limit(name, pids) {
      const dir = path.join(l.root, `hyphae-bench-${process.pid}-${name}`);
      mkdirSync(dir);
      made.push(dir);
      l.limit(dir, quotaUs, periodUs);
      for (const pid of pids) writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    },
    remove() {
      for (const dir of made.splice(0)) {
        for (const pid of readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
          try {
            writeFileSync(path.join(l.root, 'cgroup.procs'), pid);
          } catch {
            // Gone meanwhile.
          }
        }
        rmdirSync(dir);
      }
    },
  };
}
