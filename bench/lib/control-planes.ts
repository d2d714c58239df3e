/**
 * Control planes for the bench, as child processes of the real CLI: one on
 * the file store, or N replicas on a real etcd cluster (also children).
 * Secure by default, as in production: HTTPS from the control plane's CA,
 * tokens on every call; on etcd every replica is given the same CA
 * encryption key and admin token file, and they share one CA.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { createCsr } from '../../src/tls/csr.js';
import { generateKeyPair } from '../../src/tls/keys.js';
import { cliPath, startNode, type Child } from '../../examples/lib/child.js';
import { startEtcdCluster, type EtcdCluster } from '../../examples/lib/etcd-cluster.js';

export interface BenchSetup {
  store: 'file' | 'etcd';
  secure: boolean;
  /** One URL per control plane (replica). */
  urls: string[];
  /** Control-plane process ids, in the order of urls. */
  pids: number[];
  /** etcd member process ids (none for the file store). */
  etcdPids: number[];
  /** PEM of the CA that signs every control plane's HTTPS certificate (undefined when insecure). */
  ca: string | undefined;
  /** The admin token (undefined when insecure). */
  adminToken: string | undefined;
  stop(): Promise<void>;
}

async function startOne(args: string[]): Promise<Child & { url: string }> {
  const child = startNode(cliPath, ['control-plane', '--port', '0', '--heartbeat-ms', '15000', ...args]);
  // A first start makes RSA keys (the CA root, the HTTPS certificate): generous on a busy machine.
  const m = await child.waitFor(/listening (https?:\/\/\S+)/, 30_000);
  return Object.assign(child, { url: m[1]! });
}

/** `parent`: where its data dir goes (a bench's own temp dir, removed even when the bench is interrupted). */
export async function startFileControlPlane(secure: boolean, parent = os.tmpdir()): Promise<BenchSetup> {
  const dir = await mkdtemp(path.join(parent, 'hyphae-bench-'));
  const cp = await startOne(['--data-dir', dir, ...(secure ? [] : ['--insecure'])]);
  return {
    store: 'file',
    secure,
    urls: [cp.url],
    pids: [cp.proc.pid!],
    etcdPids: [],
    ca: secure ? await readFile(path.join(dir, 'ca-bundle.pem'), 'utf8') : undefined,
    adminToken: secure ? (await readFile(path.join(dir, 'admin-token'), 'utf8')).trim() : undefined,
    async stop() {
      await cp.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startEtcdControlPlanes(replicas: number, members: number, secure: boolean): Promise<BenchSetup> {
  const etcd: EtcdCluster = await startEtcdCluster(members);
  const secrets = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-secrets-'));
  const keyFile = path.join(secrets, 'ca-encryption.key');
  const adminTokenFile = path.join(secrets, 'admin-token');
  const adminToken = `bench-admin.${randomBytes(24).toString('base64url')}`;
  await writeFile(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  await writeFile(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
  const security = secure ? ['--ca-encryption-key-file', keyFile, '--admin-token-file', adminTokenFile] : ['--insecure'];
  const dirs: string[] = [];
  const cps: (Child & { url: string })[] = [];
  try {
    for (let i = 0; i < replicas; i++) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-bench-'));
      dirs.push(dir);
      cps.push(await startOne(['--data-dir', dir, '--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(','), ...security]));
    }
  } catch (err) {
    await Promise.all(cps.map((c) => c.kill('SIGKILL')));
    await etcd.stop();
    await rm(secrets, { recursive: true, force: true });
    throw err;
  }
  return {
    store: 'etcd',
    secure,
    urls: cps.map((c) => c.url),
    pids: cps.map((c) => c.proc.pid!),
    etcdPids: etcd.members.map((m) => m.proc!.pid!),
    // One CA for every replica: any replica's bundle file verifies them all.
    ca: secure ? await readFile(path.join(dirs[0]!, 'ca-bundle.pem'), 'utf8') : undefined,
    adminToken: secure ? adminToken : undefined,
    async stop() {
      await Promise.all(cps.map((c) => c.kill('SIGTERM')));
      await etcd.stop();
      await Promise.all([...dirs, secrets].map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

/** A join token for `service` from the secure control plane `cp` (the admin API, as `hyphae token create` does). */
export async function joinToken(cp: BenchSetup, service: string): Promise<string> {
  const agent = new Agent({ connect: { ca: cp.ca! } });
  try {
    const res = await request(`${cp.urls[0]}/v1/tokens`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service }),
    });
    const json = (await res.body.json()) as { token: string };
    if (res.statusCode >= 300) throw new Error(`POST /v1/tokens answered ${res.statusCode}: ${JSON.stringify(json)}`);
    return json.token;
  } finally {
    await agent.close();
  }
}

/** A workload certificate of `service` from the secure control plane `cp`'s CA, as a mesh gets one (a CSR; the key stays here). */
export interface WorkloadCertificate {
  key: string;
  /** The leaf and its chain, PEM. */
  cert: string;
  trustDomain: string;
  /** The trust bundle's roots, PEM. */
  roots: string[];
}

export async function workloadCertificate(cp: BenchSetup, service: string): Promise<WorkloadCertificate> {
  const keys = await generateKeyPair();
  const agent = new Agent({ connect: { ca: cp.ca! } });
  try {
    const res = await request(`${cp.urls[0]}/v1/certificates`, {
      method: 'POST',
      dispatcher: agent,
      headers: { authorization: `Bearer ${await joinToken(cp, service)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ csr: createCsr(keys, { trustDomain: 'hyphae.local', namespace: 'default', service }) }),
    });
    const json = (await res.body.json()) as { certificate: string; chain: string[]; trustBundle: { trustDomain: string; roots: string[] } };
    if (res.statusCode >= 300) throw new Error(`POST /v1/certificates answered ${res.statusCode}: ${JSON.stringify(json)}`);
    return {
      key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      cert: json.certificate + json.chain.join(''),
      trustDomain: json.trustBundle.trustDomain,
      roots: json.trustBundle.roots,
    };
  } finally {
    await agent.close();
  }
}
