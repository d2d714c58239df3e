/**
 * Control planes for the bench, as child processes of the real CLI: one on
 * the file store, or N replicas on a real etcd cluster (also children).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cliPath, startNode, type Child } from '../../examples/lib/child.js';
import { startEtcdCluster, type EtcdCluster } from '../../examples/lib/etcd-cluster.js';

export interface BenchSetup {
  store: 'file' | 'etcd';
  /** One URL per control plane (replica). */
  urls: string[];
  /** Control-plane process ids, in the order of urls. */
  pids: number[];
  /** etcd member process ids (none for the file store). */
  etcdPids: number[];
  stop(): Promise<void>;
}

async function startOne(args: string[]): Promise<Child & { url: string }> {
  const child = startNode(cliPath, ['control-plane', '--port', '0', '--heartbeat-ms', '15000', ...args]);
  const m = await child.waitFor(/listening (http:\/\/\S+)/, 20_000);
  return Object.assign(child, { url: m[1]! });
}

export async function startFileControlPlane(): Promise<BenchSetup> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-'));
  const cp = await startOne(['--data-dir', dir]);
  return {
    store: 'file',
    urls: [cp.url],
    pids: [cp.proc.pid!],
    etcdPids: [],
    async stop() {
      await cp.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startEtcdControlPlanes(replicas: number, members: number): Promise<BenchSetup> {
  const etcd: EtcdCluster = await startEtcdCluster(members);
  const dirs: string[] = [];
  const cps: (Child & { url: string })[] = [];
  try {
    for (let i = 0; i < replicas; i++) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-'));
      dirs.push(dir);
      cps.push(await startOne(['--data-dir', dir, '--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')]));
    }
  } catch (err) {
    await Promise.all(cps.map((c) => c.kill('SIGKILL')));
    await etcd.stop();
    throw err;
  }
  return {
    store: 'etcd',
    urls: cps.map((c) => c.url),
    pids: cps.map((c) => c.proc.pid!),
    etcdPids: etcd.members.map((m) => m.proc!.pid!),
    async stop() {
      await Promise.all(cps.map((c) => c.kill('SIGTERM')));
      await etcd.stop();
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}
