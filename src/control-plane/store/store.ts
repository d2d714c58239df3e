/**
 * Where configuration (resources) lives. The control plane talks to this
 * interface only, so the embedded file store can be swapped for an etcd-backed
 * one when several replicas run: reads are served from memory (an etcd store
 * keeps a watched cache), writes are all-or-nothing transactions that bump one
 * revision, and `onChange` reports writes, including those made elsewhere
 * (through another replica). Implementations: ./file-store.ts (default, one
 * node) and ../etcd/etcd-store.ts (replicas).
 */
import type { Disposer } from '../../core/events.js';
import type { Resource, ResourceKind, StoredResource } from '../../config/resources.js';

export interface ResourceId {
  kind: ResourceKind;
  namespace: string;
  name: string;
}

export type ApplyAction = 'created' | 'updated' | 'unchanged';

export interface ApplyResult {
  /** The store revision after the write (unchanged when every item was unchanged). */
  revision: number;
  results: (ResourceId & { action: ApplyAction })[];
}

export interface StoreChange {
  revision: number;
  changes: (ResourceId & { action: 'created' | 'updated' | 'deleted'; resource: Resource | undefined })[];
}

export interface WriteOptions {
  /**
   * Compare-and-swap: fail with HYPHAE_ERR_CONFLICT (naming the current
   * revision) unless the store is still at this revision.
   */
  expectedRevision?: number;
}

/** Whether the store can be reached now: /v1/health answers 503 while it cannot. */
export interface StoreHealth {
  ok: boolean;
  /** Why not, for operators. */
  error?: string;
  /** Store-specific facts for /v1/health (etcd: reachable, watch, member, revision, lastContactMs). */
  [detail: string]: unknown;
}

export interface Store {
  /** What backs it, for logs: `file /path/resources.json`, `etcd http://… prefix /hyphae/`. */
  readonly description: string;
  /** Open the backing storage and read what it holds; must be called once, before anything else. */
  load(): Promise<void>;
  /** The revision of the last write; it only grows, and survives restarts. */
  revision(): number;
  /** Every stored resource (of one kind), ordered by kind, namespace and name. */
  list(kind?: ResourceKind): StoredResource[];
  get(id: ResourceId): StoredResource | undefined;
  /** Create or update several resources in one step: either all are stored or none is. */
  apply(resources: readonly Resource[], options?: WriteOptions): Promise<ApplyResult>;
  /** Remove one resource; resolves with the new revision, or undefined when it did not exist. */
  delete(id: ResourceId, options?: WriteOptions): Promise<number | undefined>;
  onChange(listener: (change: StoreChange) => void): Disposer;
  /**
   * Resolves true once this process has seen `revision` (written through
   * another replica), false after `timeoutMs`. Optional: a store that only
   * this process writes (the file store) is always current.
   */
  caughtUp?(revision: number, timeoutMs: number): Promise<boolean>;
  /** Optional: a store in this process (the file store) is always reachable. */
  health?(): StoreHealth;
  /** Called when health().ok changes. */
  onHealth?(listener: (health: StoreHealth) => void): Disposer;
  close(): Promise<void>;
}

export function idOf(r: Resource): ResourceId {
  return { kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name };
}

export function keyOf(id: ResourceId): string {
  return `${id.kind}/${id.namespace}/${id.name}`;
}
