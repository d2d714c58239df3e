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
 *
 * Quotas (../registry/quotas.ts) hold across replicas exactly: every
 * registration of a service also puts `registry/services/<service>`, and its
 * transaction compares that key's mod_revision with the one this replica's
 * cache holds. The cache is then current for that service's registrations,
 * so its counts are the truth, or the transaction fails, the replica catches
 * up and counts again. A join token registers only its own service, so the
 * same compare makes its per-token count exact too. On one replica,
 * registrations of one service take turns, so they do not fail each other's
 * compare.
 */
import { randomBytes } from 'node:crypto';
import { EtcdLeaseInvalidError, type IRequestOp, type ITxnResponse } from 'etcd3';
import { z } from 'zod';
import { ErrorCode, isMeshError, MeshError } from '../../core/errors.js';
import { Listeners, type Disposer } from '../../core/events.js';
import { instanceId, instanceSchema, type Instance, type RegisterResponse, type ValidRegisterRequest } from '../../config/instance.js';
import { serviceRef } from '../../config/wire.js';
import { shortId, type EventLog } from '../log.js';
import type { LeaseOwner, Registry, ServiceSummary } from '../registry/registry.js';
import { labelsForLog, listInstances, sortedInstances } from '../registry/instance-views.js';
import { checkQuotas, DEFAULT_REGISTRY_LIMITS, OwnerCounts, type RegistryLimits } from '../registry/quotas.js';
import { sameInstance } from '../registry/same-instance.js';
import { storeUnavailable } from './client.js';
import type { Batch, Entry, EtcdState } from './etcd-state.js';
import { INSTANCES, LEASES, SERVICES, instanceKey, leaseKey, parseInstanceKey, parseServiceKey, serviceKey } from './keys.js';
import { KeepAlives } from './keep-alive.js';

// `owner` is absent in values written before quotas (and for the admin token): those count for no token.
const memberValueSchema = z.object({ leaseId: z.string(), ttlSeconds: z.number(), instance: instanceSchema, owner: z.string().optional() });
const leaseValueSchema = z.object({ etcdLease: z.string(), service: z.string(), instanceId: z.string() });

type LeaseValue = z.output<typeof leaseValueSchema>;

interface Member {
  leaseId: string;
  ttlSeconds: number;
  instance: Instance;
  etcdLease: string;
  owner: string | undefined;
}

export interface EtcdRegistryOptions {
  defaultTtlSeconds: number;
  endpoints: readonly string[];
  requestTimeoutMs: number;
  log: EventLog;
  limits?: RegistryLimits;
}

const LEASE_ID = /^[A-Za-z0-9_-]{16,64}$/;

/** How long a write waits for this replica's watch to deliver it before answering anyway. */
const CATCH_UP_MS = 5_000;

/** Tries of a registration whose compare failed because another replica registered an instance of the same service. */
const REGISTER_ATTEMPTS = 10;

export class EtcdRegistry implements Registry {
  #state: EtcdState;
  #options: EtcdRegistryOptions;
  #log: EventLog;
  #keepAlives: KeepAlives;
  /** service ref -> instance id -> member. */
  #services = new Map<string, Map<string, Member>>();
  #leases = new Map<string, LeaseValue>();
  #seen = new Set<string>();
  #owners = new OwnerCounts();
  #limits: RegistryLimits;
  /** service ref -> the registration of it in progress on this replica: they take turns (see the header). */
  #turns = new Map<string, Promise<unknown>>();
  #size = 0;
  #changes = new Listeners<string>();
  /** Leases this replica is revoking: their removal is logged as a deregistration, not as an expiry. */
  #revoking = new Set<string>();
  #unsubscribe: Disposer | undefined;

  constructor(state: EtcdState, options: EtcdRegistryOptions) {
    this.#state = state;
    this.#options = options;
    this.#log = options.log;
    this.#limits = options.limits ?? DEFAULT_REGISTRY_LIMITS;
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

  async register(req: ValidRegisterRequest, owner?: string): Promise<RegisterResponse> {
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
    // Before a lease is granted: a token past its quota costs no lease.
    await this.#quotaCheck(service, instance.id, owner);
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
    let written: { revision: number; previous: Member | undefined };
    try {
      written = await this.#inTurn(service, () => this.#put(service, instance, owner, { leaseId, etcdLease, ttlSeconds }));
    } catch (err) {
      client.leaseClient.leaseRevoke({ ID: etcdLease }).catch(() => {});
      throw err;
    }
    const { revision, previous } = written;
    // The replaced registration's lease would otherwise linger (and keep its lease-id key) until it expires.
    if (previous && previous.etcdLease !== etcdLease) this.#revoke(previous.etcdLease, previous.leaseId).catch(() => {});

    const labels = labelsForLog(instance.labels);
    const weight = instance.weight === 1 ? '' : ` weight=${instance.weight}`;
    const replaces = previous ? ` replaces=${shortId(previous.leaseId)}` : '';
    this.#log(`register ${service} ${instance.id} lease=${shortId(leaseId)} ttl=${ttlSeconds}s${labels}${weight}${replaces} (etcd revision ${revision})`);
    return { leaseId, ttlSeconds, instance };
  }

  /**
   * Write the instance and its lease index if the cache is current for this service (the compare on
   * its `registry/services/` key), with the quotas counted from that cache; else catch up and count again.
   */
  async #put(
    service: string,
    instance: Instance,
    owner: string | undefined,
    lease: { leaseId: string; etcdLease: string; ttlSeconds: number },
  ): Promise<{ revision: number; previous: Member | undefined }> {
    const client = this.#state.client;
    const serviceKeyFull = this.#state.key(serviceKey(service));
    const member: z.input<typeof memberValueSchema> = { leaseId: lease.leaseId, ttlSeconds: lease.ttlSeconds, instance, ...(owner !== undefined && { owner }) };
    const ops: IRequestOp[] = [
      { request_put: { key: this.#state.key(instanceKey(service, instance.id)), value: json(member), lease: lease.etcdLease } },
      { request_put: { key: this.#state.key(leaseKey(lease.leaseId)), value: json({ etcdLease: lease.etcdLease, service, instanceId: instance.id }), lease: lease.etcdLease } },
      { request_put: { key: serviceKeyFull, value: Buffer.alloc(0) } },
    ];
    for (let attempt = 0; attempt < REGISTER_ATTEMPTS; attempt++) {
      await this.#quotaCheck(service, instance.id, owner);
      const previous = this.#services.get(service)?.get(instance.id);
      const seenAt = this.#state.get(serviceKey(service))?.modRevision ?? 0;
      let res: ITxnResponse;
      try {
        res = await client.kv.txn({ compare: [{ key: serviceKeyFull, target: 'Mod', result: 'Equal', mod_revision: seenAt }], success: ops, failure: [] });
      } catch (err) {
        throw storeUnavailable('registration', err, this.#options.endpoints);
      }
      const revision = Number(res.header.revision);
      if (res.succeeded) {
        await this.#caughtUp(revision, 'registration');
        return { revision, previous };
      }
      // Another replica registered an instance of this service since our cache last moved (or the etcd client
      // retried this very transaction after a first try that committed unheard: writing it again is harmless).
      await this.#catchUpOrFail(revision, service);
    }
    throw new MeshError(ErrorCode.STORE_UNAVAILABLE, `registrations of ${service} through other replicas changed it under this one ${REGISTER_ATTEMPTS} times in a row; try again`, {
      retryable: true,
    });
  }

  /**
   * The quotas, counted from the cache. A refusal is made on etcd's latest state: the cache may not have
   * heard yet of a deregistration or an expiry (through another replica) that freed a slot.
   */
  async #quotaCheck(service: string, id: string, owner: string | undefined): Promise<void> {
    try {
      this.#checkQuotas(service, id, owner);
    } catch (err) {
      if (!isMeshError(err, ErrorCode.QUOTA_EXCEEDED)) throw err;
      let latest: number;
      try {
        latest = Number((await this.#state.client.kv.range({ key: this.#state.key(serviceKey(service)) })).header.revision);
      } catch (cause) {
        throw storeUnavailable('registration', cause, this.#options.endpoints);
      }
      await this.#catchUpOrFail(latest, service);
      this.#checkQuotas(service, id, owner);
    }
  }

  /** Counting needs a current cache: a replica whose watch lags (it reports unhealthy soon) answers 503, and clients move on. */
  async #catchUpOrFail(revision: number, service: string): Promise<void> {
    if (await this.#state.waitFor(revision, CATCH_UP_MS)) return;
    throw new MeshError(
      ErrorCode.STORE_UNAVAILABLE,
      `this replica's etcd watch has not delivered revision ${revision} within ${CATCH_UP_MS} ms; it cannot count the instances of ${service} for the quotas`,
      { retryable: true },
    );
  }

  #checkQuotas(service: string, id: string, owner: string | undefined): void {
    const members = this.#services.get(service);
    const previous = members?.get(id);
    checkQuotas(this.#limits, {
      service,
      owner,
      serviceInstances: (members?.size ?? 0) - (previous ? 1 : 0),
      ownerInstances: this.#owners.get(owner) - (previous && previous.owner === owner ? 1 : 0),
    });
  }

  /** Run `fn` after the registrations of `service` already queued on this replica. */
  #inTurn<T>(service: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#turns.get(service) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const settled = run.catch(() => {});
    this.#turns.set(service, settled);
    void settled.then(() => {
      if (this.#turns.get(service) === settled) this.#turns.delete(service);
    });
    return run;
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
      this.#owners.remove(before.owner);
      this.#size--;
      if (members!.size === 0) this.#services.delete(service);
      if (live && !this.#revoking.has(before.leaseId)) {
        this.#log(`expire ${service} ${id} lease=${shortId(before.leaseId)} (its etcd lease ended: no heartbeat for ${before.ttlSeconds}s, or deregistered through another replica)`);
      }
      return true;
    }
    const member: Member = { leaseId: value.leaseId, ttlSeconds: value.ttlSeconds, instance: value.instance, etcdLease: entry.lease, owner: value.owner };
    if (!members) this.#services.set(service, (members = new Map()));
    members.set(id, member);
    if (before) this.#owners.remove(before.owner);
    this.#owners.add(member.owner);
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
