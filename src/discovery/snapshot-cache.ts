/**
 * Fail-static: the last-known-good snapshot of every service this process
 * follows (endpoints, config, routes, policies, mtlsMode — the whole
 * ServiceSnapshot) and the trust bundle, in memory and in a cache directory on
 * disk. While the control plane is unreachable the mesh keeps working on them;
 * a process that starts during an outage starts from them.
 *
 * On disk: one JSON file per service (`service.<namespace>.<name>.json`),
 * `trust-bundle.json` and `cluster.json` (the control plane's cluster name, so
 * that a mesh started during an outage knows its own cluster: which instances
 * are local, what its telemetry and `mesh.cluster` say), each
 * `{ format, version, savedAt, controlPlane, ... }`,
 * written atomically, readable by this user only, in a directory private to
 * this user (checked; otherwise the cache stays in memory only, with a
 * warning). Files of another format version are ignored, as are files that
 * fail validation: the cache can only ever make a start possible, never feed
 * a malformed state in.
 *
 * Writes are coalesced (at most one per service per writeDelayMs) and never
 * on the request path.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../core/logger.js';
import { clusterNameSchema } from '../config/names.js';
import { serviceSnapshotSchema, trustBundleSchema, type ServiceSnapshot, type TrustBundle } from '../config/wire.js';
import { ensurePrivateDir, writeFileAtomic } from './cache-file.js';
import type { SnapshotFallback } from './control-plane-resolver.js';

export const CACHE_FORMAT = 'hyphae.discovery-cache';
export const CACHE_VERSION = 1;

const SAFE_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const TRUST_BUNDLE_FILE = 'trust-bundle.json';
const CLUSTER_FILE = 'cluster.json';

export interface SnapshotCacheOptions {
  /** This control plane's cache directory (see cacheDirFor); undefined: memory only. */
  dir: string | undefined;
  /** Recorded in each file, for people reading them. */
  controlPlane: readonly string[];
  logger: Logger;
  /** Coalesce writes of one service over this long. */
  writeDelayMs?: number;
}

interface CacheFile {
  format: string;
  version: number;
  savedAt: string;
  controlPlane: readonly string[];
  snapshot?: unknown;
  trustBundle?: unknown;
  cluster?: unknown;
}

export class SnapshotCache implements SnapshotFallback {
  readonly dir: string | undefined;
  /** Snapshots read from disk at start. */
  readonly loaded: number;
  /** Serve cached snapshots at once, without waiting for the stream to fail (the control plane was down at start). */
  serveImmediately = false;
  #snapshots = new Map<string, ServiceSnapshot>();
  #savedAt = new Map<string, string>();
  #bundle: TrustBundle | undefined;
  #cluster: string | undefined;
  #clusterDirty = false;
  #controlPlane: readonly string[];
  #logger: Logger;
  #writeDelayMs: number;
  /** ref -> snapshot to write, or null to delete. */
  #dirty = new Map<string, ServiceSnapshot | null>();
  #bundleDirty = false;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;
  #warnedWrite = false;

  constructor(options: SnapshotCacheOptions) {
    this.#controlPlane = options.controlPlane;
    this.#logger = options.logger;
    this.#writeDelayMs = options.writeDelayMs ?? 100;
    let dir = options.dir;
    if (dir !== undefined) {
      const unsafe = ensurePrivateDir(dir);
      if (unsafe) {
        this.#logger.warn('hyphae: discovery cache disabled (kept in memory only)', { reason: unsafe });
        dir = undefined;
      }
    }
    this.dir = dir;
    this.loaded = dir === undefined ? 0 : this.#load(dir);
  }

  /** The last-known-good snapshot of `namespace/name`. */
  get(ref: string): ServiceSnapshot | undefined {
    return this.#snapshots.get(ref);
  }

  /** When the snapshot of `ref` was written to disk (ISO time), if it came from disk. */
  savedAt(ref: string): string | undefined {
    return this.#savedAt.get(ref);
  }

  get size(): number {
    return this.#snapshots.size;
  }

  get trustBundle(): TrustBundle | undefined {
    return this.#bundle;
  }

  /** The control plane's cluster, as an earlier run (or this one) learnt it. */
  get cluster(): string | undefined {
    return this.#cluster;
  }

  recordCluster(cluster: string): void {
    if (this.#closed || cluster === this.#cluster) return;
    this.#cluster = cluster;
    this.#clusterDirty = true;
    this.#schedule();
  }

  /** A snapshot from the control plane: the new last-known-good state (a service that no longer exists is forgotten). */
  record(snap: ServiceSnapshot): void {
    if (this.#closed) return;
    const ref = `${snap.namespace}/${snap.name}`;
    this.#savedAt.delete(ref);
    if (snap.exists) this.#snapshots.set(ref, snap);
    else if (!this.#snapshots.delete(ref)) return;
    this.#dirty.set(ref, snap.exists ? snap : null);
    this.#schedule();
  }

  recordTrustBundle(bundle: TrustBundle): void {
    if (this.#closed) return;
    this.#bundle = bundle;
    this.#bundleDirty = true;
    this.#schedule();
  }

  /** Write everything pending now. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const dir = this.dir;
    if (dir === undefined || (this.#dirty.size === 0 && !this.#bundleDirty && !this.#clusterDirty)) return this.#writing;
    const dirty = this.#dirty;
    this.#dirty = new Map();
    const bundle = this.#bundleDirty ? this.#bundle : undefined;
    this.#bundleDirty = false;
    const cluster = this.#clusterDirty ? this.#cluster : undefined;
    this.#clusterDirty = false;
    this.#writing = this.#writing.then(() => this.#write(dir, dirty, bundle, cluster));
    return this.#writing;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
  }

  #schedule(): void {
    if (this.dir === undefined || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => void this.flush(), this.#writeDelayMs);
    this.#timer.unref();
  }

  async #write(dir: string, dirty: Map<string, ServiceSnapshot | null>, bundle: TrustBundle | undefined, cluster: string | undefined): Promise<void> {
    const savedAt = new Date().toISOString();
    const jobs: Promise<void>[] = [];
    for (const [ref, snap] of dirty) {
      const file = serviceFile(dir, ref);
      if (file === undefined) continue;
      if (snap === null) jobs.push(rm(file, { force: true }));
      else jobs.push(writeFileAtomic(file, this.#encode({ snapshot: snap }, savedAt)));
    }
    if (bundle) jobs.push(writeFileAtomic(path.join(dir, TRUST_BUNDLE_FILE), this.#encode({ trustBundle: bundle }, savedAt)));
    if (cluster !== undefined) jobs.push(writeFileAtomic(path.join(dir, CLUSTER_FILE), this.#encode({ cluster }, savedAt)));
    const results = await Promise.allSettled(jobs);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed && !this.#warnedWrite) {
      // Once: a full or read-only disk must not flood the log; the in-memory state is still good.
      this.#warnedWrite = true;
      this.#logger.warn('hyphae: could not write the discovery cache', { dir, error: String(failed.reason) });
    }
  }

  #encode(body: Pick<CacheFile, 'snapshot' | 'trustBundle' | 'cluster'>, savedAt: string): string {
    const file: CacheFile = { format: CACHE_FORMAT, version: CACHE_VERSION, savedAt, controlPlane: this.#controlPlane, ...body };
    return `${JSON.stringify(file)}\n`;
  }

  #load(dir: string): number {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return 0;
    }
    let loaded = 0;
    const skipped: string[] = [];
    /** The checked field of a one-value file (the trust bundle, the cluster name), or undefined (skipped, and said). */
    const single = <T>(name: string, read: (f: CacheFile) => { success: true; data: T } | { success: false }): T | undefined => {
      const f = readCacheFile(path.join(dir, name));
      const checked = f ? read(f) : undefined;
      if (checked?.success) return checked.data;
      skipped.push(name);
      return undefined;
    };
    for (const name of names) {
      if (name === TRUST_BUNDLE_FILE) {
        this.#bundle = single(name, (f) => trustBundleSchema.safeParse(f.trustBundle)) ?? this.#bundle;
        continue;
      }
      if (name === CLUSTER_FILE) {
        this.#cluster = single(name, (f) => clusterNameSchema.safeParse(f.cluster)) ?? this.#cluster;
        continue;
      }
      if (!name.startsWith('service.') || !name.endsWith('.json')) continue;
      const f = readCacheFile(path.join(dir, name));
      const s = f ? serviceSnapshotSchema.safeParse(f.snapshot) : undefined;
      if (!f || !s?.success || !s.data.exists || serviceFile(dir, `${s.data.namespace}/${s.data.name}`) !== path.join(dir, name)) {
        skipped.push(name);
        continue;
      }
      const ref = `${s.data.namespace}/${s.data.name}`;
      this.#snapshots.set(ref, s.data);
      this.#savedAt.set(ref, f.savedAt);
      loaded++;
    }
    if (skipped.length > 0) this.#logger.warn('hyphae: ignored unreadable or outdated discovery cache files', { dir, files: skipped });
    return loaded;
  }
}

function serviceFile(dir: string, ref: string): string | undefined {
  const [namespace, name] = ref.split('/');
  if (!namespace || !name || !SAFE_NAME.test(namespace) || !SAFE_NAME.test(name)) return undefined;
  return path.join(dir, `service.${namespace}.${name}.json`);
}

function readCacheFile(file: string): CacheFile | undefined {
  try {
    const f = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
    if (f === null || typeof f !== 'object' || f.format !== CACHE_FORMAT || f.version !== CACHE_VERSION || typeof f.savedAt !== 'string') return undefined;
    return f;
  } catch {
    return undefined;
  }
}
