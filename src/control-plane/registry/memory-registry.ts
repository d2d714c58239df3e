/**
 * The registry of one control plane on its own (the file store): instances
 * and their leases, in memory.
 *
 * It lives in memory on purpose. Instances are the source of truth about
 * themselves: when a heartbeat gets LEASE_NOT_FOUND (after a control-plane
 * restart, or an expiry during a long pause) the client registers again, so
 * persisting leases would only resurrect instances that may be gone. What is
 * stored on disk is configuration (see ../store). Replicas share a registry
 * in etcd instead (../etcd/etcd-registry.ts).
 *
 * Answers are synchronous; the Registry interface is met because a plain
 * value is a valid answer where a promise is allowed.
 */
import { randomBytes } from 'node:crypto';
import { Listeners, type Disposer } from '../../core/events.js';
import { instanceId, type Instance, type RegisterResponse, type ValidRegisterRequest } from '../../config/instance.js';
import { serviceRef } from '../../config/wire.js';
import { shortId, type EventLog } from '../log.js';
import { LeaseTimers } from './lease-timers.js';
import type { LeaseOwner, Registry, ServiceSummary } from './registry.js';
import { labelsForLog, listInstances, sortedInstances } from './instance-views.js';
import { checkQuotas, DEFAULT_REGISTRY_LIMITS, OwnerCounts, type RegistryLimits } from './quotas.js';
import { sameInstance } from './same-instance.js';

interface Lease {
  id: string;
  /** `namespace/name` of the service. */
  service: string;
  instance: Instance;
  ttlSeconds: number;
  /** The join token that registered it (its quota); undefined for the admin token. */
  owner: string | undefined;
}

export interface MemoryRegistryOptions {
  defaultTtlSeconds: number;
  log: EventLog;
  limits?: RegistryLimits;
}

export class MemoryRegistry implements Registry {
  #leases = new Map<string, Lease>();
  /** service ref -> instance id -> lease: the instance id is what makes a re-registration a replacement. */
  #services = new Map<string, Map<string, Lease>>();
  /** Services that have had an instance since start (they "exist" for watchers even when empty). */
  #seen = new Set<string>();
  #timers = new LeaseTimers();
  #changes = new Listeners<string>();
  #owners = new OwnerCounts();
  #defaultTtlSeconds: number;
  #limits: RegistryLimits;
  #log: EventLog;

  constructor({ defaultTtlSeconds, log, limits = DEFAULT_REGISTRY_LIMITS }: MemoryRegistryOptions) {
    this.#defaultTtlSeconds = defaultTtlSeconds;
    this.#limits = limits;
    this.#log = log;
  }

  /** Called with the service ref (`namespace/name`) whenever its instance list changes. */
  onChange(listener: (service: string) => void): Disposer {
    return this.#changes.on(listener);
  }

  register(req: ValidRegisterRequest, owner?: string): RegisterResponse {
    const service = serviceRef(req.namespace, req.service);
    const instance: Instance = {
      id: instanceId(req.address, req.port),
      service: req.service,
      namespace: req.namespace,
      address: req.address,
      port: req.port,
      labels: req.labels,
      weight: req.weight,
    };
    const ttlSeconds = req.ttlSeconds ?? this.#defaultTtlSeconds;
    let members = this.#services.get(service);
    const previous = members?.get(instance.id);
    // The instance a re-registration replaces leaves its slots first: the same instance never counts twice.
    checkQuotas(this.#limits, {
      service,
      owner,
      serviceInstances: (members?.size ?? 0) - (previous ? 1 : 0),
      ownerInstances: this.#owners.get(owner) - (previous && previous.owner === owner ? 1 : 0),
    });
    // 128 random bits: a lease id is the only credential needed to renew or remove an instance.
    const lease: Lease = { id: randomBytes(16).toString('base64url'), service, instance, ttlSeconds, owner };

    if (!members) this.#services.set(service, (members = new Map()));
    if (previous) {
      this.#drop(previous);
      this.#owners.remove(previous.owner);
    }
    members.set(instance.id, lease);
    this.#owners.add(owner);
    this.#leases.set(lease.id, lease);
    this.#seen.add(service);
    this.#timers.start(lease.id, ttlSeconds * 1000, () => this.#expire(lease));

    const labels = labelsForLog(instance.labels);
    const weight = instance.weight === 1 ? '' : ` weight=${instance.weight}`;
    const replaces = previous ? ` replaces=${shortId(previous.id)}` : '';
    this.#log(`register ${service} ${instance.id} lease=${shortId(lease.id)} ttl=${ttlSeconds}s${labels}${weight}${replaces}`);
    // A re-registration with identical data changes nothing a watcher can see.
    if (!previous || !sameInstance(previous.instance, instance)) this.#changes.emit(service);
    return { leaseId: lease.id, ttlSeconds, instance };
  }

  /** Restart a lease's TTL; undefined when the lease is unknown (expired, replaced, or from before a restart). */
  renew(leaseId: string): number | undefined {
    const lease = this.#leases.get(leaseId);
    if (!lease || !this.#timers.renew(leaseId)) return undefined;
    return lease.ttlSeconds;
  }

  leaseOwner(leaseId: string): LeaseOwner | undefined {
    const lease = this.#leases.get(leaseId);
    return lease ? { namespace: lease.instance.namespace, name: lease.instance.service } : undefined;
  }

  /** Remove an instance now (drain); undefined when the lease is unknown. */
  deregister(leaseId: string): Instance | undefined {
    const lease = this.#leases.get(leaseId);
    if (!lease) return undefined;
    this.#remove(lease);
    this.#log(`deregister ${lease.service} ${lease.instance.id} lease=${shortId(lease.id)}`);
    this.#changes.emit(lease.service);
    return lease.instance;
  }

  /** The instances of one service, ordered by id so every watcher sees the same order. */
  instances(namespace: string, name: string): Instance[] {
    return sortedInstances(this.#services.get(serviceRef(namespace, name)));
  }

  list(filter: { namespace?: string; name?: string } = {}): Instance[] {
    if (filter.namespace !== undefined && filter.name !== undefined) return this.instances(filter.namespace, filter.name);
    return listInstances(this.#services, filter);
  }

  /** Every service seen since start, with its current instance count. */
  services(): ServiceSummary[] {
    return [...this.#seen].map((ref) => {
      const [namespace, name] = ref.split('/') as [string, string];
      return { namespace, name, instances: this.#services.get(ref)?.size ?? 0 };
    });
  }

  hasSeen(namespace: string, name: string): boolean {
    return this.#seen.has(serviceRef(namespace, name));
  }

  get size(): number {
    return this.#leases.size;
  }

  #expire(lease: Lease): void {
    if (this.#leases.get(lease.id) !== lease) return;
    this.#remove(lease);
    this.#log(`expire ${lease.service} ${lease.instance.id} lease=${shortId(lease.id)} (no heartbeat for ${lease.ttlSeconds}s)`);
    this.#changes.emit(lease.service);
  }

  /** Forget a lease without telling anyone (the caller emits, once). */
  #drop(lease: Lease): void {
    this.#leases.delete(lease.id);
    this.#timers.cancel(lease.id);
  }

  #remove(lease: Lease): void {
    this.#drop(lease);
    const members = this.#services.get(lease.service);
    if (members?.get(lease.instance.id) === lease) {
      members.delete(lease.instance.id);
      this.#owners.remove(lease.owner);
      if (members.size === 0) this.#services.delete(lease.service);
    }
  }

  async close(): Promise<void> {
    await this.#timers.close();
    this.#changes.clear();
    this.#leases.clear();
    this.#services.clear();
    this.#owners.clear();
  }
}
