/**
 * The workload's last certificate and private key, kept next to the discovery
 * cache (same private directory), so that a process that starts while the
 * control plane — and so the CA — is unreachable can still speak mTLS: with
 * mTLS on, the discovery cache alone would let a new process know where its
 * peers are but not talk to any of them. On by default: a cold start during a
 * control-plane outage is worth a short-lived key on disk, readable by this
 * user alone (docs/usage.md, "The workload's key on disk").
 *
 *   <cacheDir>/<hash of the control plane URLs>/identity.<namespace>.<service>.json   (mode 0600, directory 0700)
 *
 * Why a key on disk is acceptable here (and what bounds it):
 * - the directory is the discovery cache's: created 0700 (an older one of ours is
 *   brought back to 0700), checked to be owned by this user and not writable by
 *   others, or nothing is written (the same check keeps a planted trust bundle out);
 * - the file is 0600, written atomically, and holds a short-lived leaf
 *   (24 h by default): it is useless once expired, and it is only read when
 *   the CA cannot be reached at start; renewal replaces it as soon as the CA
 *   answers;
 * - whoever can read it can already read the process's join token
 *   (HYPHAE_TOKEN, in its environment), which obtains fresh certificates for
 *   the same identity for the token's whole life: the cached key adds no power;
 * - SPIRE's agent keeps its own SVID and key on disk for the same reason
 *   (restarting without the server). `cacheIdentity: false`
 *   (HYPHAE_CACHE_IDENTITY=off) turns it off, and removes the file an earlier
 *   run left (forgetIdentity): off means no key of ours on disk, not only no
 *   new one. Such a process cannot start during an outage with mTLS on.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { removeStaleTemps } from '../core/atomic-write.js';
import type { Logger } from '../core/logger.js';
import { writeFileAtomic } from '../discovery/cache-file.js';
import type { WorkloadCredentials } from '../tls/certificate-provider.js';

export const IDENTITY_FORMAT = 'hyphae.identity-cache';
export const IDENTITY_VERSION = 1;

interface IdentityFile {
  format: string;
  version: number;
  savedAt: string;
  credentials: WorkloadCredentials;
}

export class IdentityCache {
  readonly file: string;
  #logger: Logger;
  #writing: Promise<void> = Promise.resolve();
  #warned = false;

  constructor(dir: string, namespace: string, service: string, logger: Logger) {
    this.file = identityFile(dir, namespace, service);
    this.#logger = logger;
  }

  /** The credentials an earlier run kept, or undefined (none, unreadable, another format). Checked by CertificateProvider.startFrom. */
  load(): WorkloadCredentials | undefined {
    try {
      const f = JSON.parse(readFileSync(this.file, 'utf8')) as IdentityFile;
      if (f?.format !== IDENTITY_FORMAT || f.version !== IDENTITY_VERSION) return undefined;
      const c = f.credentials;
      if (typeof c?.key !== 'string' || typeof c.certificate !== 'string' || !Array.isArray(c.chain) || typeof c.notAfter !== 'number') return undefined;
      return c;
    } catch {
      return undefined;
    }
  }

  /** Keep these credentials (the newest certificate from the CA). Writes are serialized; a failure is logged once. */
  save(credentials: WorkloadCredentials): Promise<void> {
    const body: IdentityFile = { format: IDENTITY_FORMAT, version: IDENTITY_VERSION, savedAt: new Date().toISOString(), credentials };
    this.#writing = this.#writing
      .then(() => writeFileAtomic(this.file, `${JSON.stringify(body)}\n`))
      .catch((err: unknown) => {
        if (this.#warned) return;
        this.#warned = true;
        this.#logger.warn('hyphae: could not keep the workload certificate in the cache directory', { file: this.file, error: String(err) });
      });
    return this.#writing;
  }

  flush(): Promise<void> {
    return this.#writing;
  }
}

export function identityFile(dir: string, namespace: string, service: string): string {
  return path.join(dir, `identity.${namespace}.${service}.json`);
}

/**
 * cacheIdentity is off: remove the identity file an earlier run with it on left
 * (and the temp file of a write a crash cut short, which holds the key too).
 * Failing to is logged, not fatal: the process can still run without the file.
 */
export async function forgetIdentity(dir: string, namespace: string, service: string, logger: Logger): Promise<void> {
  const file = identityFile(dir, namespace, service);
  const removed: string[] = [];
  try {
    await rm(file);
    removed.push(path.basename(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      logger.warn('hyphae: cacheIdentity is off but the workload key an earlier run kept could not be removed', { file, error: String(err) });
    }
  }
  removed.push(...(await removeStaleTemps(file).catch(() => [])));
  if (removed.length > 0) logger.info('hyphae: cacheIdentity is off; removed the workload key an earlier run kept', { dir, files: removed });
}
