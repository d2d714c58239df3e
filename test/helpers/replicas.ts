/**
 * Control-plane replicas on one etcd cluster, secure as in production: every
 * replica is given the same CA encryption key file and the same admin token
 * file (what docs/usage.md tells an operator to give them), and each serves
 * HTTPS with a certificate from the CA they share.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startControlPlane, type RunningControlPlane, type StartControlPlaneOptions } from './control-plane.js';
import type { EtcdCluster } from './etcd.js';

export interface ReplicaSecrets {
  dir: string;
  /** --ca-encryption-key-file: one base64 key. */
  keyFile: string;
  /** --admin-token-file, and the token it holds. */
  adminTokenFile: string;
  adminToken: string;
  remove(): Promise<void>;
}

export async function replicaSecrets(): Promise<ReplicaSecrets> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-replicas-'));
  const keyFile = path.join(dir, 'ca-encryption.key');
  const adminTokenFile = path.join(dir, 'admin-token');
  const adminToken = `replicas-admin.${randomBytes(24).toString('base64url')}`;
  await writeFile(keyFile, `# the mesh's CA encryption key\n${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  await writeFile(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
  return { dir, keyFile, adminTokenFile, adminToken, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The flags every replica of the mesh gets. */
export function replicaArgs(etcd: EtcdCluster, secrets: ReplicaSecrets, extra: string[] = []): string[] {
  return [
    '--store',
    'etcd',
    '--etcd-endpoints',
    etcd.endpoints.join(','),
    '--etcd-timeout-ms',
    '1000',
    '--ca-encryption-key-file',
    secrets.keyFile,
    '--admin-token-file',
    secrets.adminTokenFile,
    ...extra,
  ];
}

/** `n` replicas started at the same time (so they race to make the CA, as a fresh deployment does). */
export function startReplicas(etcd: EtcdCluster, secrets: ReplicaSecrets, n: number, opts: Omit<StartControlPlaneOptions, 'args'> & { args?: string[] } = {}): Promise<RunningControlPlane[]> {
  return Promise.all(Array.from({ length: n }, () => startControlPlane({ ...opts, args: replicaArgs(etcd, secrets, opts.args) })));
}
