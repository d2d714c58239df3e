/**
 * Where the control plane keeps its state: the embedded file store with an
 * in-memory registry (one node, the default), or etcd for both (replicas).
 */
import { FileStore } from './store/file-store.js';
import type { Store } from './store/store.js';
import type { EventLog } from './log.js';
import type { ResolvedOptions } from './options.js';
import { MemoryRegistry } from './registry/memory-registry.js';
import type { Registry } from './registry/registry.js';

export async function openBackend(opts: ResolvedOptions, log: EventLog): Promise<{ store: Store; registry: Registry }> {
  if (opts.store === 'etcd') {
    // Loaded on demand: the etcd client (gRPC) costs memory and start-up time a single node does not need.
    const { openEtcdBackend } = await import('./etcd/backend.js');
    return openEtcdBackend(opts.etcd!, opts.defaultTtlSeconds, log);
  }
  const store = new FileStore(opts.dataDir);
  await store.load();
  return { store, registry: new MemoryRegistry({ defaultTtlSeconds: opts.defaultTtlSeconds, log }) };
}
