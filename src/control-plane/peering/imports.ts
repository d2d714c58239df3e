/**
 * The instances imported from peer clusters, by service, as the snapshot builder merges them with the
 * local ones. Each update from a peer is checked whole (schema, its cluster name, quotas) before anything
 * changes: a peer that sends garbage gets a clear error and this cluster loses nothing it already knew.
 * A dropped link changes nothing here (fail-static); only deleting the peering forgets its imports.
 */
import type { Instance } from '../../config/instance.js';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { exportSnapshotSchema } from './exports.js';
import { MAX_IMPORTED_INSTANCES } from './limits.js';

export class Imports {
  /** peer -> `namespace/name` -> its instances, each tagged `cluster: peer`. */
  #byPeer = new Map<string, Map<string, Instance[]>>();

  /** Imported instances of one service, from every peer; empty (and shared) when there are none. */
  instances(namespace: string, name: string): readonly Instance[] {
    if (this.#byPeer.size === 0) return NONE;
    const key = `${namespace}/${name}`;
    let out: Instance[] | undefined;
    for (const services of this.#byPeer.values()) {
      const list = services.get(key);
      if (list && list.length > 0) out = out ? out.concat(list) : list;
    }
    return out ?? NONE;
  }

  /** Whether some peer exports the service (even with no instance now): it exists for this cluster's callers. */
  has(namespace: string, name: string): boolean {
    const key = `${namespace}/${name}`;
    for (const services of this.#byPeer.values()) if (services.has(key)) return true;
    return false;
  }

  /** `namespace/name` of each service `peer` exports now. */
  servicesOf(peer: string): string[] {
    return [...(this.#byPeer.get(peer)?.keys() ?? [])];
  }

  instanceCount(peer: string): number {
    let n = 0;
    for (const list of this.#byPeer.get(peer)?.values() ?? []) n += list.length;
    return n;
  }

  /**
   * Replace what `peer` exports with `data` (its `exports` event); returns the services whose instances
   * changed. Throws HYPHAE_ERR_PEER_DATA_REJECTED, changing nothing, when the update is not acceptable.
   */
  apply(peer: string, data: unknown): string[] {
    const parsed = exportSnapshotSchema.safeParse(data);
    if (!parsed.success) {
      const first = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(update)'}: ${i.message}`);
      throw rejected(peer, `it does not match the export schema (${first.join('; ')})`);
    }
    const snapshot = parsed.data;
    if (snapshot.cluster !== peer) throw rejected(peer, `it comes from cluster "${snapshot.cluster}", not "${peer}"`);
    let total = 0;
    const next = new Map<string, Instance[]>();
    for (const s of snapshot.services) {
      const key = `${s.namespace}/${s.name}`;
      if (next.has(key)) throw rejected(peer, `it lists ${key} twice`);
      total += s.instances.length;
      if (total > MAX_IMPORTED_INSTANCES) throw rejected(peer, `it carries more than ${MAX_IMPORTED_INSTANCES} instances, the most one peer may export`);
      // The service and cluster are ours to set: a peer names its services once, in the entry, not per instance.
      next.set(
        key,
        s.instances.map((i) => ({ ...i, service: s.name, namespace: s.namespace, cluster: peer })),
      );
    }
    const before = this.#byPeer.get(peer) ?? new Map<string, Instance[]>();
    const changed = diff(before, next);
    this.#byPeer.set(peer, next);
    return changed;
  }

  /** Forget `peer` (its peering was deleted); returns the services that lose instances. */
  drop(peer: string): string[] {
    const before = this.#byPeer.get(peer);
    this.#byPeer.delete(peer);
    return before ? [...before.keys()] : [];
  }
}

const NONE: readonly Instance[] = Object.freeze([]);

function diff(before: Map<string, Instance[]>, after: Map<string, Instance[]>): string[] {
  const out: string[] = [];
  for (const [key, list] of after) if (JSON.stringify(list) !== JSON.stringify(before.get(key))) out.push(key);
  for (const key of before.keys()) if (!after.has(key)) out.push(key);
  return out;
}

function rejected(peer: string, why: string): MeshError {
  return new MeshError(ErrorCode.PEER_DATA_REJECTED, `update from peer ${peer} refused, imports kept as they were: ${why}`);
}
