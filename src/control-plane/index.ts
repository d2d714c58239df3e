/**
 * `hyphae/control-plane`: the registry, configuration store and watch API.
 * Applications never import this (the runtime talks to it over HTTP); the
 * `hyphae control-plane` command and tests do.
 */
export { createControlPlane, type ControlPlane } from './control-plane.js';
export {
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_CERT_TTL_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HOST,
  DEFAULT_MAX_STATS_STREAMS,
  DEFAULT_MAX_STATS_STREAMS_PER_TOKEN,
  DEFAULT_PORT,
  DEFAULT_TRUST_DOMAIN,
  MAX_STATS_STREAMS,
  type ControlPlaneOptions,
} from './options.js';
export type { LogSink } from './log.js';
export type { Registry, ServiceSummary } from './registry/registry.js';
export { MemoryRegistry } from './registry/memory-registry.js';
export { DEFAULT_ETCD_PREFIX, DEFAULT_ETCD_REQUEST_TIMEOUT_MS, type EtcdOptions } from './etcd/etcd-options.js';
export { FileStore, STORE_FILE } from './store/file-store.js';
export type { ApplyAction, ApplyResult, ResourceId, Store, StoreChange, WriteOptions } from './store/store.js';
