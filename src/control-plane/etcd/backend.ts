/**
 * The etcd backend: one connection and one watched state, and the store, the
 * registry, and (opened by ../security.ts when security is on) the CA state
 * and the tokens as views of it. Loaded only with `--store etcd` (see
 * ../backend.ts), so a file-store control plane never loads gRPC.
 */
import { readFile } from 'node:fs/promises';
import { ErrorCode, MeshError } from '../../core/errors.js';
import type { Backend } from '../backend.js';
import type { EventLog } from '../log.js';
import { DEFAULT_REGISTRY_LIMITS, type RegistryLimits } from '../registry/quotas.js';
import { connectEtcd, storeUnavailable, type EtcdCredentials } from './client.js';
import { etcdOptionsSchema, plainRemoteEndpoints, type EtcdOptions, type ResolvedEtcdOptions } from './etcd-options.js';
import { EtcdRegistry } from './etcd-registry.js';
import { EtcdState } from './etcd-state.js';
import { EtcdStore } from './etcd-store.js';
import { EtcdCaStateStore } from './etcd-ca-state.js';
import { EtcdTokenStore } from './etcd-token-store.js';
import { RecordMac } from './record-mac.js';

export async function openEtcdBackend(options: EtcdOptions, defaultTtlSeconds: number, log: EventLog, limits: RegistryLimits = DEFAULT_REGISTRY_LIMITS): Promise<Backend> {
  const etcd = etcdOptionsSchema.parse(options);
  const plain = plainRemoteEndpoints(etcd.endpoints);
  if (plain.length > 0) {
    // The mesh's root of trust lives there: on a network, use https:// with --etcd-ca/--etcd-cert/--etcd-key and etcd's auth.
    log(
      `WARNING etcd: ${plain.join(', ')} ${plain.length > 1 ? 'are' : 'is'} plain HTTP to another host: anyone on the network path can read and rewrite this mesh's state (see "Running replicas securely" in docs/usage.md)`,
    );
  }
  const client = connectEtcd(etcd, await readCredentials(etcd));
  const state = new EtcdState(client, etcd.prefix, log, { requestTimeoutMs: etcd.requestTimeoutMs, unhealthyAfterMs: etcd.unhealthyAfterMs });
  try {
    await state.load();
  } catch (err) {
    client.close();
    throw storeUnavailable('initial read', err, etcd.endpoints);
  }
  const store = new EtcdStore(state, etcd.endpoints, log);
  await store.load();
  const registry = new EtcdRegistry(state, { defaultTtlSeconds, endpoints: etcd.endpoints, requestTimeoutMs: etcd.requestTimeoutMs, log, limits });
  registry.load();
  state.follow();
  log(`etcd: loaded ${state.size} keys under ${etcd.prefix} at revision ${state.revision} (configuration revision ${store.revision()}, ${registry.size} instances)`);
  return {
    store,
    registry,
    shared: {
      caState: (keys) => new EtcdCaStateStore(state, keys, etcd.endpoints, log),
      tokens: (keys) => new EtcdTokenStore(state, new RecordMac(keys), etcd.endpoints, log),
    },
  };
}

async function readCredentials(etcd: ResolvedEtcdOptions): Promise<EtcdCredentials> {
  const read = async (file: string | undefined, option: string) => {
    if (file === undefined) return undefined;
    try {
      return await readFile(file);
    } catch (err) {
      throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot read ${option} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const [rootCertificate, certChain, privateKey] = await Promise.all([read(etcd.caFile, '--etcd-ca'), read(etcd.certFile, '--etcd-cert'), read(etcd.keyFile, '--etcd-key')]);
  return { ...(rootCertificate && { rootCertificate }), ...(certChain && { certChain }), ...(privateKey && { privateKey }) };
}
