/**
 * The etcd backend: one connection and one watched state, and the store, the
 * registry, and (opened by ../security.ts when security is on) the CA state
 * and the tokens as views of it. Loaded only with `--store etcd` (see
 * ../backend.ts), so a file-store control plane never loads gRPC.
 */
import type { Backend } from '../backend.js';
import type { EventLog } from '../log.js';
import { connectEtcd, storeUnavailable } from './client.js';
import { etcdOptionsSchema, type EtcdOptions } from './etcd-options.js';
import { EtcdRegistry } from './etcd-registry.js';
import { EtcdState } from './etcd-state.js';
import { EtcdStore } from './etcd-store.js';
import { EtcdCaStateStore } from './etcd-ca-state.js';
import { EtcdTokenStore } from './etcd-token-store.js';

export async function openEtcdBackend(
  options: EtcdOptions,
  defaultTtlSeconds: number,
  log: EventLog,
): Promise<Backend> {
  const etcd = etcdOptionsSchema.parse(options);
  const client = connectEtcd(etcd);
  const state = new EtcdState(client, etcd.prefix, log, { requestTimeoutMs: etcd.requestTimeoutMs, unhealthyAfterMs: etcd.unhealthyAfterMs });
  try {
    await state.load();
  } catch (err) {
    client.close();
    throw storeUnavailable('initial read', err, etcd.endpoints);
  }
  const store = new EtcdStore(state, etcd.endpoints, log);
  await store.load();
  const registry = new EtcdRegistry(state, { defaultTtlSeconds, endpoints: etcd.endpoints, requestTimeoutMs: etcd.requestTimeoutMs, log });
  registry.load();
  state.follow();
  log(`etcd: loaded ${state.size} keys under ${etcd.prefix} at revision ${state.revision} (configuration revision ${store.revision()}, ${registry.size} instances)`);
  return {
    store,
    registry,
    shared: {
      caState: (keys) => new EtcdCaStateStore(state, keys, etcd.endpoints, log),
      tokens: () => new EtcdTokenStore(state, etcd.endpoints, log),
    },
  };
}
