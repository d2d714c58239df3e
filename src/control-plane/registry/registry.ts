/**
 * The service registry seam: instances and their leases. The control plane
 * talks to this interface only, so the in-memory registry of a single node
 * (./memory-registry.ts) can be swapped for one that lives in etcd
 * (../etcd/etcd-registry.ts) when several replicas serve one mesh.
 *
 * Reads are synchronous: they are answered from memory (the etcd registry
 * keeps a watched cache), because snapshots are built on every change for
 * every watcher. Writes may be asynchronous (a round trip to etcd); a plain
 * value is a valid answer where a promise is allowed, so the memory registry
 * stays synchronous and callers simply `await`.
 */
import type { Disposer } from '../../core/events.js';
import type { Instance, RegisterResponse, ValidRegisterRequest } from '../../config/instance.js';

export interface ServiceSummary {
  namespace: string;
  name: string;
  instances: number;
}

export interface LeaseOwner {
  namespace: string;
  name: string;
}

export interface Registry {
  /**
   * Called with the service ref (`namespace/name`) whenever its instance
   * list changes, whichever replica made the change.
   */
  onChange(listener: (service: string) => void): Disposer;
  /**
   * Add (or replace: same address and port) an instance under a new lease. `owner` is the id of the
   * join token that registers it (counted against its quota, ./quotas.ts); undefined for the admin
   * token. Throws QUOTA_EXCEEDED past a quota.
   */
  register(req: ValidRegisterRequest, owner?: string): RegisterResponse | Promise<RegisterResponse>;
  /** Restart a lease's TTL; undefined when the lease is unknown (expired, replaced, or from before a restart). */
  renew(leaseId: string): number | undefined | Promise<number | undefined>;
  /** The service a lease belongs to (so that a join token renews and removes only its own); undefined when unknown. */
  leaseOwner(leaseId: string): LeaseOwner | undefined | Promise<LeaseOwner | undefined>;
  /** Remove an instance now (drain); undefined when the lease is unknown. */
  deregister(leaseId: string): Instance | undefined | Promise<Instance | undefined>;
  /** The instances of one service, ordered by id so every watcher sees the same order. */
  instances(namespace: string, name: string): Instance[];
  /** Every instance, optionally of one namespace and/or one service name. */
  list(filter?: { namespace?: string; name?: string }): Instance[];
  /** Every service that has had an instance, with its current instance count. */
  services(): ServiceSummary[];
  /** Whether the service has had an instance (it "exists" for watchers even when empty). */
  hasSeen(namespace: string, name: string): boolean;
  /** Number of instances. */
  readonly size: number;
  close(): Promise<void>;
}
