/**
 * A real etcd cluster for tests and benchmarks: N members of the Debian `etcd-server`
 * binary on loopback, each on ports found free by binding port 0 first, with
 * data directories in a temporary directory (on /dev/shm when there is one:
 * etcd fsyncs every commit, and the tests are about replication, not disks),
 * all torn down by stop().
 *
 * Timing is tightened (heartbeat 50 ms, election 500 ms) so that a killed
 * member's leadership moves within a second; etcd's smallest lease TTL
 * follows (1.5 x election timeout, so 1 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';

export const ETCD_BIN = process.env.HYPHAE_ETCD_BIN ?? 'etcd';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  proc: ChildProcess | undefined;
  lines: string[];
  /** SIGKILL (a crash, not a shutdown) and wait for the exit. */
  kill(): Promise<void>;
  /** SIGSTOP: the member freezes with its sockets open (a hung VM, a partition without resets). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
}

export interface EtcdCluster {
  endpoints: string[];
  members: EtcdMember[];
  dir: string;
  /** Stop every member still running and remove the data directories. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Ports the kernel says are free right now (bound to port 0, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => {
      const s = net.createServer();
      return new Promise<net.Server>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve(s));
      });
    }),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export async function startEtcdCluster(size = 3, { attempts = 3 } = {}): Promise<EtcdCluster> {
  let lastErr: unknown;
  // Another process may take a port between our probe and etcd's bind: start again on new ports.
  for (let i = 0; i < attempts; i++) {
    try {
      return await tryStart(size);
    } catch (err) {
      lastErr = err;
    }
  }
  throw lastErr;
}

async function tryStart(size: number): Promise<EtcdCluster> {
  const base = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  const dir = await mkdtemp(path.join(base, 'hyphae-etcd-'));
  const ports = await freePorts(size * 2);
  const members: EtcdMember[] = Array.from({ length: size }, (_, i) => ({
    name: `m${i}`,
    clientUrl: `http://127.0.0.1:${ports[i * 2]}`,
    peerUrl: `http://127.0.0.1:${ports[i * 2 + 1]}`,
    proc: undefined,
    lines: [],
    kill: async () => {},
    pause: () => {},
    resume: () => {},
  }));
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  const token = `hyphae-test-${randomBytes(4).toString('hex')}`;
  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.clientUrl),
    members,
    dir,
    async stop() {
      // A paused member would not act on SIGTERM until resumed.
      for (const m of members) m.resume();
      await Promise.all(members.map((m) => stopMember(m)));
      await rm(dir, { recursive: true, force: true });
    },
  };
  for (const m of members) {
    const args = [
      `--name=${m.name}`,
      `--data-dir=${path.join(dir, m.name)}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${token}`,
      '--heartbeat-interval=50',
      '--election-timeout=500',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
    ];
    let proc: ChildProcess;
    try {
      proc = spawn(ETCD_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    live.add(proc);
    m.proc = proc;
    const exited = once(proc, 'exit').then(() => live.delete(proc));
    proc.once('error', (err) => {
      m.lines.push(`spawn error: ${err.message}`);
      live.delete(proc);
    });
    createInterface({ input: proc.stdout! }).on('line', (l) => m.lines.push(l));
    createInterface({ input: proc.stderr! }).on('line', (l) => m.lines.push(l));
    m.kill = async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    };
    m.pause = () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGSTOP');
    };
    m.resume = () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGCONT');
    };
  }
  try {
    await Promise.all(members.map((m) => waitHealthy(m, 20_000)));
  } catch (err) {
    const logs = members.map((m) => `--- ${m.name}\n${m.lines.slice(-20).join('\n')}`).join('\n');
    await cluster.stop();
    const hint = members.some((m) => m.lines.some((l) => l.includes('ENOENT'))) ? ` (is etcd installed? apt-get install etcd-server, or set HYPHAE_ETCD_BIN)` : '';
    throw new Error(`etcd cluster did not become healthy${hint}: ${(err as Error).message}\n${logs}`, { cause: err });
  }
  return cluster;
}

async function stopMember(m: EtcdMember): Promise<void> {
  const proc = m.proc;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null || !live.has(proc)) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

/** etcd's own health endpoint says true once the member has joined a cluster with a leader. */
async function waitHealthy(m: EtcdMember, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    const p = m.proc!;
    if (p.exitCode !== null || p.signalCode !== null || m.lines.some((l) => l.startsWith('spawn error'))) {
      throw new Error(`${m.name} exited`);
    }
    try {
      const res = await request(`${m.clientUrl}/health`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
      last = await res.body.text();
      if (res.statusCode === 200 && /"health":\s*"true"/.test(last)) return;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${m.name} at ${m.clientUrl} not healthy within ${timeoutMs} ms (last: ${last})`);
}
