/**
 * Times the store's writes (and, on etcd, the registry's, which are etcd transactions too) by putting a
 * timing wrapper on the instance's own methods: one place for both stores, nothing inside them changes.
 * Reads are served from memory on both stores and are not store operations.
 */
import { ErrorCode, isMeshError } from '../../core/errors.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import type { ControlPlaneMetrics, StoreOp } from './control-plane-metrics.js';

/**
 * A failure of the store itself: unreachable, full, or something unexpected. A conflict, a quota or a
 * refused request is an answer to the caller, counted by the API's requests, not here.
 */
function failed(err: unknown): boolean {
  return !isMeshError(err) || err.code === ErrorCode.STORE_UNAVAILABLE || err.code === ErrorCode.STORE_FULL;
}

function timed<A extends unknown[], R>(metrics: ControlPlaneMetrics, kind: 'file' | 'etcd', op: StoreOp, fn: (...args: A) => R): (...args: A) => R {
  return (...args: A): R => {
    const start = performance.now();
    const seconds = () => (performance.now() - start) / 1000;
    let result: R;
    try {
      result = fn(...args);
    } catch (err) {
      metrics.storeOperation(kind, op, seconds(), failed(err));
      throw err;
    }
    if (!(result instanceof Promise)) {
      metrics.storeOperation(kind, op, seconds(), false);
      return result;
    }
    return result.then(
      (value: unknown) => {
        metrics.storeOperation(kind, op, seconds(), false);
        return value;
      },
      (err: unknown) => {
        metrics.storeOperation(kind, op, seconds(), failed(err));
        throw err;
      },
    ) as R;
  };
}

export function instrumentStore(store: Store, kind: 'file' | 'etcd', metrics: ControlPlaneMetrics): void {
  store.apply = timed(metrics, kind, 'apply', store.apply.bind(store));
  store.delete = timed(metrics, kind, 'delete', store.delete.bind(store));
}

/** Only with etcd: the memory registry's writes are a Map's, nothing worth a histogram. */
export function instrumentRegistry(registry: Registry, metrics: ControlPlaneMetrics): void {
  registry.register = timed(metrics, 'etcd', 'register', registry.register.bind(registry));
  registry.renew = timed(metrics, 'etcd', 'renew', registry.renew.bind(registry));
  registry.deregister = timed(metrics, 'etcd', 'deregister', registry.deregister.bind(registry));
}
