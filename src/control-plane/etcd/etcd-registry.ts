/**
 * The registry in etcd, so that every replica serves the same instances.
 *
 * - register = grant an etcd lease with the instance's TTL, then one
 *   transaction puts the instance and a lease-id index on that lease;
 * - heartbeat = a keep-alive of the etcd lease (keep-alive.ts), through
 *   whichever replica the instance reaches;
 * - deregister = revoke the lease: etcd deletes both keys;
 * - expiry = etcd deletes the keys itself when no keep-alive came in time.
 *
 * Every replica learns of each of these from its watch (etcd-state.ts), and
 * only from it: the replica that made a change hears of it the same way, so
 * `onChange` (and with it every watch push) is driven by etcd's watch.
 *
 * The lease id handed to clients is our own random 128-bit capability, not
 * etcd's lease id (which is guessable); `registry/leases/<id>` maps one to
 * the other.
 */
import { randomBytes } from 'node:crypto';
import { EtcdLeaseInvalidError, type IRequestOp } from 'etcd3';
import { z } from 'zod';
import { Listeners, type Disposer } from '../../core/events.js';
import { instanceId, instanceSchema, type Instance, type RegisterResponse, type ValidRegisterRequest } from '../../config/instance.js';
import { serviceRef } from '../../config/wire.js';
import { shortId, type EventLog } from '../log.js';
import type { LeaseOwner, Registry, ServiceSummary } from '../registry/registry.js';
import { listInstances, sortedInstances } from '../registry/instance-views.js';
import { sameInstance } from '../registry/same-instance.js';
import { storeUnavailable } from './client.js';
import type { Batch, Entry, EtcdState } from './etcd-state.js';
import { INSTANCES, LEASES, SERVICES, instanceKey, leaseKey, parseInstanceKey, parseServiceKey, serviceKey } from './keys.js';
import { KeepAlives } from './keep-alive.js';

const memberValueSchema = z.object({ leaseId: z.string(), ttlSeconds: z.number(), instance: instanceSchema });
const leaseValueSchema = z.object({ etcdLease: z.string(), service: z.string(), instanceId: z.string() });

type LeaseValue = z.output<typeof leaseValueSchema>;

interface Member {
  leaseId: string;
  ttlSeconds: number;
  instance: Instance;
  etcdLease: string;
}

export interface EtcdRegistryOptions {
  defaultTtlSeconds: number;
  endpoints: readonly string[];
  requestTimeoutMs: number;
  log: EventLog;
}

const LEASE_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** How long a write waits for this replica's watch to deliver it before answering anyway. */
const CATCH_UP_MS = 5_000;

export class EtcdRegistry implements Registry {
  #state: EtcdState;
  #options: EtcdRegistryOptions;
  #log: EventLog;
  #keepAlives: KeepAlives;
  /** service ref -> instance id -> member. */
  #services = new Map<string, Map<string, Member>>();
  #leases = new Map<string, LeaseValue>();
  #seen = new Set<string>();
  #size = 0;
  #changes = new Listeners<string>();
  /** Leases this replica is revoking: their removal is logged as a deregistration, not as an expiry. */
  #revoking = new Set<string>();
  #unsubscribe: Disposer | undefined;

  constructor(state: EtcdState, options: EtcdRegistryOptions) {
    this.#state = state;
    this.#options = options;
    this.#log = options.log;
    this.#keepAlives = new KeepAlives(state.client, options.requestTimeoutMs);
  }

  /** Build from the state already loaded, then follow it. */
  load(): void {
    this.#state.retain();
    const batch: Batch = { revision: this.#state.revision, changes: [] };
    for (const sub of [SERVICES, LEASES, INSTANCES]) {
      for (const [key, entry] of this.#state.entries(sub)) batch.changes.push({ key, entry, previous: undefined });
    }
    this.#apply(batch, false);
    this.#unsubscribe = this.#state.onBatch((b) => this.#apply(b, true));
  }

  onChange(listener: (service: string) => void): Disposer {
    return this.#changes.on(listener);
  }

  async register(req: ValidRegisterRequest): Promise<RegisterResponse> {
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
    const client = this.#state.client;
    let etcdLease: string;
    let ttlSeconds: number;
    try {
      // etcd counts whole seconds and raises a TTL below its minimum (~2 s with default election timing).
      const grant = await client.leaseClient.leaseGrant({ TTL: Math.ceil(req.ttlSeconds ?? this.#options.defaultTtlSeconds) });
      etcdLease = grant.ID;
      ttlSeconds = Number(grant.TTL);
    } catch (err) {
      throw storeUnavailable('registration', err, this.#options.endpoints);
    }
    const leaseId = randomBytes(16).toString('base64url');
    const ops: IRequestOp[] = [
      { request_put: { key: this.#state.key(instanceKey(service, instance.id)), value: json({ leaseId, ttlSeconds, instance }), lease: etcdLease } },
      { request_put: { key: this.#state.key(leaseKey(leaseId)), value: json({ etcdLease, service, instanceId: instance.id }), lease: etcdLease } },
    ];
    if (!this.#seen.has(service)) ops.push({ request_put: { key: this.#state.key(serviceKey(service)), value: Buffer.alloc(0) } });
    const previous = this.#services.get(service)?.get(instance.id);
    let revision: number;
    try {
      revision = Number((await client.kv.txn({ compare: [], success: ops, failure: [] })).header.revision);
    } catch (err) {
      client.leaseClient.leaseRevoke({ ID: etcdLease }).catch(() => {});
      throw storeUnavailable('registration', err, this.#options.endpoints);
    }
    // The replaced registration's lease would otherwise linger (and keep its lease-id key) until it expires.
    if (previous && previous.etcdLease !== etcdLease) this.#revoke(previous.etcdLease, previous.leaseId).catch(() => {});
    await this.#caughtUp(revision, 'registration');

    const labels = Object.entries(instance.labels).map(([k, v]) => ` ${k}=${v}`).join('');
    const weight = instance.weight === 1 ? '' : ` weight=${instance.weight}`;
    const replaces = previous ? ` replaces=${shortId(previous.leaseId)}` : '';
    this.#log(`register ${service} ${instance.id} lease=${shortId(leaseId)} ttl=${ttlSeconds}s${labels}${weight}${replaces} (etcd revision ${revision})`);
    return { leaseId, ttlSeconds, instance };
  }

  async renew(leaseId: string): Promise<number | undefined> {
    const lease = await this.#lease(leaseId);
    if (!lease) return undefined;
    let ttl: number;
    try {
      ttl = await this.#keepAlives.renew(lease.etcdLease);
    } catch (err) {
      throw storeUnavailable('heartbeat', err, this.#options.endpoints);
    }
    return ttl > 0 ? ttl : undefined;
  }

  async leaseOwner(leaseId: string): Promise<LeaseOwner | undefined> {
    const lease = await this.#lease(leaseId);
    if (!lease) return undefined;
    const slash = lease.service.indexOf('/');
    return { namespace: lease.service.slice(0, slash), name: lease.service.slice(slash + 1) };
  }

  async deregister(leaseId: string): Promise<Instance | undefined> {
    const lease = await this.#lease(leaseId);
    if (!lease) return undefined;
    let revision: number | undefined;
    let instance: Instance | undefined;
    let gone = '';
    try {
      instance = this.#services.get(lease.service)?.get(lease.instanceId)?.instance ?? (await this.#readInstance(lease));
      revision = await this.#revoke(lease.etcdLease, leaseId);
      if (revision === undefined && instance !== undefined) {
        // etcd had the lease when we looked it up, and no longer has it. The etcd client retries a revoke
        // that timed out or lost its connection, and the first try may have been the one that revoked it:
        // answering "no such lease" would tell the caller its deregistration failed when it is done. The
        // instance is gone either way (revoked by us, by another replica, or expired just now).
        const res = await this.#state.client.kv.range({ key: this.#state.key(leaseKey(leaseId)) });
        if (res.kvs.length === 0) {
          revision = Number(res.header.revision);
          gone = ', its etcd lease already ended (an earlier try of this call, or an expiry)';
        }
      }
    } catch (err) {
      throw storeUnavailable('deregistration', err, this.#options.endpoints);
    }
    if (revision === undefined || instance === undefined) return undefined;
    await this.#caughtUp(revision, 'deregistration');
    this.#log(`deregister ${lease.service} ${lease.instanceId} lease=${shortId(leaseId)} (etcd revision ${revision}${gone})`);
    return instance;
  }

  /** The instance a lease holds, read from etcd (the cache has not seen it yet). */
  async #readInstance(lease: LeaseValue): Promise<Instance | undefined> {
    const res = await this.#state.client.kv.range({ key: this.#state.key(instanceKey(lease.service, lease.instanceId)) });
    const kv = res.kvs[0];
    return kv ? parseJson(memberValueSchema, kv.value)?.instance : undefined;
  }

  instances(namespace: string, name: string): Instance[] {
    return sortedInstances(this.#services.get(serviceRef(namespace, name)));
  }

  list(filter: { namespace?: string; name?: string } = {}): Instance[] {
    if (filter.namespace !== undefined && filter.name !== undefined) return this.instances(filter.namespace, filter.name);
    return listInstances(this.#services, filter);
  }

  services(): ServiceSummary[] {
    return [...this.#seen].map((ref) => ({ ...parseRef(ref), instances: this.#services.get(ref)?.size ?? 0 }));
  }

  hasSeen(namespace: string, name: string): boolean {
    return this.#seen.has(serviceRef(namespace, name));
  }

  get size(): number {
    return this.#size;
  }

  async close(): Promise<void> {
    if (!this.#unsubscribe) return;
    this.#unsubscribe();
    this.#unsubscribe = undefined;
    this.#keepAlives.close();
    this.#changes.clear();
    await this.#state.release();
  }

  /** The lease behind one of our lease ids: from the cache, else from etcd (another replica may have just made it). */
  async #lease(leaseId: string): Promise<LeaseValue | undefined> {
    let lease = this.#leases.get(leaseId);
    // Only ids we could have handed out (base64url) are worth a read from etcd.
    if (!lease && LEASE_ID.test(leaseId)) {
      try {
        const kv = (await this.#state.client.kv.range({ key: this.#state.key(leaseKey(leaseId)) })).kvs[0];
        lease = kv && parseJson(leaseValueSchema, kv.value);
      } catch (err) {
        throw storeUnavailable('lease lookup', err, this.#options.endpoints);
      }
    }
    // A lease whose instance has been registered again under a newer lease is over, as in the memory registry.
    const holder = lease && this.#services.get(lease.service)?.get(lease.instanceId);
    if (holder && holder.leaseId !== leaseId) return undefined;
    return lease;
  }

  /** Revoke an etcd lease; the revision of the deletion, or undefined when etcd no longer had the lease. */
  async #revoke(etcdLease: string, leaseId: string): Promise<number | undefined> {
    this.#revoking.add(leaseId);
    try {
      return Number((await this.#state.client.leaseClient.leaseRevoke({ ID: etcdLease })).header.revision);
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError) return undefined;
      throw err;
    } finally {
      // Keep the mark until the watch has delivered the deletion (or given up).
      setTimeout(() => this.#revoking.delete(leaseId), CATCH_UP_MS).unref();
    }
  }

  async #caughtUp(revision: number, what: string): Promise<void> {
    if (!(await this.#state.waitFor(revision, CATCH_UP_MS))) {
      this.#log(`etcd: ${what} committed at revision ${revision} but this replica's watch has not delivered it yet`);
    }
  }

  #apply(batch: Batch, live: boolean): void {
    const changed = new Set<string>();
    for (const { key, entry } of batch.changes) {
      if (key.startsWith(LEASES)) {
        const id = key.slice(LEASES.length);
        const value = entry && parseJson(leaseValueSchema, entry.value);
        if (value) this.#leases.set(id, value);
        else this.#leases.delete(id);
        continue;
      }
      const seen = parseServiceKey(key);
      if (seen !== undefined) {
        if (entry) this.#seen.add(seen);
        continue;
      }
      const ref = parseInstanceKey(key);
      if (ref && this.#applyInstance(ref.service, ref.instanceId, entry, live)) changed.add(ref.service);
    }
    for (const service of changed) this.#changes.emit(service);
  }

  /** Whether watchers can see a difference. */
  #applyInstance(service: string, id: string, entry: Entry | undefined, live: boolean): boolean {
    let members = this.#services.get(service);
    const before = members?.get(id);
    const value = entry && parseJson(memberValueSchema, entry.value);
    if (!value) {
      if (!before) return false;
      members!.delete(id);
      this.#size--;
      if (members!.size === 0) this.#services.delete(service);
      if (live && !this.#revoking.has(before.leaseId)) {
        this.#log(`expire ${service} ${id} lease=${shortId(before.leaseId)} (its etcd lease ended: no heartbeat for ${before.ttlSeconds}s, or deregistered through another replica)`);
      }
      return true;
    }
    const member: Member = { leaseId: value.leaseId, ttlSeconds: value.ttlSeconds, instance: value.instance, etcdLease: entry.lease };
    if (!members) this.#services.set(service, (members = new Map()));
    members.set(id, member);
    this.#seen.add(service);
    if (!before) this.#size++;
    return !before || !sameInstance(before.instance, member.instance);
  }
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function parseJson<S extends z.ZodType>(schema: S, value: Buffer): z.output<S> | undefined {
  try {
    const r = schema.safeParse(JSON.parse(value.toString('utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

function parseRef(ref: string): { namespace: string; name: string } {
  const i = ref.indexOf('/');
  return { namespace: ref.slice(0, i), name: ref.slice(i + 1) };
}
