/**
 * Where the control plane keeps its state: the embedded file store with an
 * in-memory registry (one node, the default), or etcd for both (replicas).
 * With etcd, the CA and the tokens are shared too (`shared`); on one node
 * they live in the data directory (security.ts).
 */
import type { SharedAdminDigest } from './auth/admin-token.js';
import type { TokenStore } from './auth/token-store.js';
import type { CaStateStore } from './ca/ca-state.js';
import type { EncryptionKeys } from './ca/encryption-keys.js';
import { importEtcdBackend } from './etcd/etcd-package.js';
import { FileStore } from './store/file-store.js';
import type { Store } from './store/store.js';
import type { EventLog } from './log.js';
import type { ResolvedOptions } from './options.js';
import { MemoryRegistry } from './registry/memory-registry.js';
import type { Registry } from './registry/registry.js';
import type { RegistryLimits } from './registry/quotas.js';

/** The CA's state and the tokens in a store every replica shares. Each view is closed by whoever opened it. */
export interface SharedSecurityStores {
  caState(keys: EncryptionKeys): CaStateStore;
  /** The keys are the CA's: the records' integrity tags derive from them (etcd/record-mac.ts). */
  tokens(keys: EncryptionKeys): TokenStore & SharedAdminDigest;
}

export interface Backend {
  store: Store;
  registry: Registry;
  shared?: SharedSecurityStores;
}

export async function openBackend(opts: ResolvedOptions, log: EventLog): Promise<Backend> {
  if (opts.store === 'etcd') {
    // Loaded on demand: the etcd client (gRPC) costs memory and start-up time a single node does not need,
    // and it is an optional peer dependency, maybe not installed (etcd/etcd-package.ts).
    const { openEtcdBackend } = await importEtcdBackend();
    return openEtcdBackend(opts.etcd!, opts.defaultTtlSeconds, log, limitsOf(opts));
  }
  const store = new FileStore(opts.dataDir);
  await store.load();
  return { store, registry: new MemoryRegistry({ defaultTtlSeconds: opts.defaultTtlSeconds, log, limits: limitsOf(opts) }) };
}

function limitsOf(opts: ResolvedOptions): RegistryLimits {
  return { maxInstancesPerToken: opts.maxInstancesPerToken, maxInstancesPerService: opts.maxInstancesPerService };
}
