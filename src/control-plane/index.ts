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
  DEFAULT_MAX_WATCH_STREAMS_PER_TOKEN,
  DEFAULT_PORT,
  DEFAULT_TRUST_DOMAIN,
  MIN_LISTENER_TIMEOUT_MS,
  MAX_STATS_STREAMS,
  MAX_WATCH_STREAMS,
  HISTORY_STEP_MS,
  MAX_HISTORY_STEP_MS,
  MIN_HISTORY_STEP_MS,
  type ControlPlaneOptions,
} from './options.js';
export { eventLog, LOG_FORMATS, type LogFormat, type LogSink } from './log.js';
export { DEFAULT_METRICS_MAX_CONNECTIONS } from './metrics/metrics-listener.js';
export type { Registry, ServiceSummary } from './registry/registry.js';
export { MemoryRegistry } from './registry/memory-registry.js';
export { DEFAULT_MAX_INSTANCES_PER_SERVICE, DEFAULT_MAX_INSTANCES_PER_TOKEN, MAX_INSTANCE_QUOTA } from './registry/quotas.js';
export { DEFAULT_ETCD_PREFIX, DEFAULT_ETCD_REQUEST_TIMEOUT_MS, type EtcdOptions } from './etcd/etcd-options.js';
/** What to run where the control plane is installed before `store: 'etcd'` can work: etcd3 is an optional peer dependency. */
export { ETCD3_INSTALL_COMMAND } from './etcd/etcd-package.js';
export { FileStore, STORE_FILE } from './store/file-store.js';
export type { ApplyAction, ApplyResult, ResourceId, Store, StoreChange, WriteOptions } from './store/store.js';
