/**
 * Configuration in etcd, shared by every replica.
 *
 * Reads come from the replica's cache (etcd-state.ts). A write is one etcd
 * transaction: every changed resource plus a put of `config/revision`, whose
 * mod_revision is therefore the configuration revision. What the transaction
 * compares depends on the caller:
 *
 * - with an expected revision (If-Match), `config/revision` must still be at
 *   it: a stale one fails as a conflict naming the current revision, so two
 *   operators cannot overwrite each other;
 * - without one, each resource the write touches must still be at the
 *   revision this replica's cache has for it (0: absent). Blind writes of
 *   different resources never collide; a write planned on a cache a few
 *   milliseconds behind another replica's write to the same resource is
 *   re-planned once the cache has caught up, so "unchanged" / "created" /
 *   "updated" are always told against the truth.
 *
 * The write then waits until this replica's watch has applied it, so
 * `onChange` has fired here (as it does on every other replica, from the
 * same watch) before the API answers.
 *
 * The etcd client retries a call that timed out or lost its connection, and
 * the first try may have committed. The retry's compare then fails against
 * our own write (or a later one), which must not be answered as a conflict.
 * So each write also puts `config/writes/<token>` (on a lease of a few
 * minutes, so markers clean themselves up), and the failure branch reads it
 * back: present means the write is in, at that key's revision.
 */
import { randomBytes } from 'node:crypto';
import type { ICompare, ITxnResponse, IRequestOp } from 'etcd3';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { Listeners, type Disposer } from '../../core/events.js';
import { resourceSchema, type Resource, type ResourceKind, type StoredResource } from '../../config/resources.js';
import type { EventLog } from '../log.js';
import { canonicalJson } from '../store/canonical-json.js';
import { revisionConflict } from '../store/conflict.js';
import { idOf, keyOf, type ApplyResult, type ResourceId, type Store, type StoreChange, type StoreHealth, type WriteOptions } from '../store/store.js';
import { storeUnavailable } from './client.js';
import type { Batch, EtcdState } from './etcd-state.js';
import { CONFIG_REVISION, CONFIG_WRITES, RESOURCES, parseResourceKey, resourceKey } from './keys.js';

/** How long a write waits for this replica to see it (or to catch up before re-planning). */
const CATCH_UP_MS = 5_000;
/** Re-plans of a write without expected revision while other replicas keep writing the same resources. */
const MAX_ATTEMPTS = 10;
/**
 * Lifetime of the lease write markers live on: far longer than any retry of a call (a few request
 * timeouts); one lease serves every write of MARKER_LEASE_REUSE_MS.
 */
const MARKER_LEASE_TTL_S = 300;
const MARKER_LEASE_REUSE_MS = 60_000;

interface Plan<T> {
  ops: IRequestOp[];
  /** Keys the write depends on (read from the cache), with the mod_revision it saw; 0 for absent. */
  reads: [Buffer, number][];
  /** The answer if the write goes through at `revision`. */
  result(revision: number): T;
}

export class EtcdStore implements Store {
  #state: EtcdState;
  #endpoints: readonly string[];
  #log: EventLog;
  #items = new Map<string, StoredResource>();
  #revision = 0;
  #changes = new Listeners<StoreChange>();
  #unsubscribe: Disposer | undefined;
  #markerLease: { id: string; at: number } | undefined;

  constructor(state: EtcdState, endpoints: readonly string[], log: EventLog) {
    this.#state = state;
    this.#endpoints = endpoints;
    this.#log = log;
  }

  get description(): string {
    return `etcd ${this.#endpoints.join(',')} prefix ${this.#state.prefix}`;
  }

  async load(): Promise<void> {
    this.#state.retain();
    for (const [key, entry] of this.#state.entries(RESOURCES)) {
      const stored = this.#parse(key, entry.value, entry.modRevision);
      if (stored) this.#items.set(keyOf(idOf(stored.resource)), stored);
    }
    this.#revision = this.#state.get(CONFIG_REVISION)?.modRevision ?? 0;
    this.#unsubscribe = this.#state.onBatch((batch) => this.#apply(batch));
  }

  revision(): number {
    return this.#revision;
  }

  list(kind?: ResourceKind): StoredResource[] {
    const out = [...this.#items.entries()].filter(([, i]) => kind === undefined || i.resource.kind === kind);
    return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }

  get(id: ResourceId): StoredResource | undefined {
    return this.#items.get(keyOf(id));
  }

  apply(resources: readonly Resource[], options: WriteOptions = {}): Promise<ApplyResult> {
    return this.#write('apply', options, () => {
      const results: ApplyResult['results'] = [];
      const ops: IRequestOp[] = [];
      const reads: Plan<ApplyResult>['reads'] = [];
      for (const resource of resources) {
        const id = idOf(resource);
        const current = this.#items.get(keyOf(id));
        reads.push([this.#state.key(resourceKey(id)), current?.revision ?? 0]);
        if (current && canonicalJson(current.resource) === canonicalJson(resource)) {
          results.push({ ...id, action: 'unchanged' });
          continue;
        }
        results.push({ ...id, action: current ? 'updated' : 'created' });
        ops.push({ request_put: { key: this.#state.key(resourceKey(id)), value: Buffer.from(JSON.stringify(resource)) } });
      }
      return { ops, reads, result: (revision) => ({ revision, results }) };
    });
  }

  delete(id: ResourceId, options: WriteOptions = {}): Promise<number | undefined> {
    return this.#write('delete', options, () => {
      const current = this.#items.get(keyOf(id));
      if (!current) return { ops: [], reads: [], result: () => undefined };
      const key = this.#state.key(resourceKey(id));
      return { ops: [{ request_delete_range: { key } }], reads: [[key, current.revision]], result: (revision) => revision };
    });
  }

  onChange(listener: (change: StoreChange) => void): Disposer {
    return this.#changes.on(listener);
  }

  health(): StoreHealth {
    return { store: 'etcd', ...this.#state.health() };
  }

  onHealth(listener: (health: StoreHealth) => void): Disposer {
    return this.#state.onHealth((h) => listener({ store: 'etcd', ...h }));
  }

  async caughtUp(revision: number, timeoutMs: number): Promise<boolean> {
    return this.#revision >= revision || ((await this.#state.waitFor(revision, timeoutMs)) && this.#revision >= revision);
  }

  async close(): Promise<void> {
    if (!this.#unsubscribe) return;
    this.#unsubscribe();
    this.#unsubscribe = undefined;
    this.#changes.clear();
    await this.#state.release();
  }

  async #write<T>(what: string, { expectedRevision }: WriteOptions, plan: () => Plan<T>): Promise<T> {
    // A replica behind the revision the caller read (from another replica) catches up before planning.
    if (expectedRevision !== undefined && expectedRevision > this.#revision) await this.#state.waitFor(expectedRevision, 1_000);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { ops, reads, result } = plan();
      if (ops.length === 0) {
        // Nothing to write; an If-Match still has to hold.
        if (expectedRevision !== undefined && expectedRevision !== this.#revision) throw revisionConflict(expectedRevision, this.#revision);
        return result(this.#revision);
      }
      const meta = this.#state.key(CONFIG_REVISION);
      const token = randomBytes(12);
      const marker = this.#state.key(`${CONFIG_WRITES}${token.toString('base64url')}`);
      let res: ITxnResponse;
      try {
        const lease = await this.#leaseForMarkers();
        const compare: ICompare[] =
          expectedRevision !== undefined
            ? [{ key: meta, target: 'Mod', result: 'Equal', mod_revision: expectedRevision }]
            : reads.map(([key, mod]) => ({ key, target: 'Mod', result: 'Equal', mod_revision: mod }));
        res = await this.#state.client.kv.txn({
          compare,
          success: [...ops, { request_put: { key: meta, value: token } }, { request_put: { key: marker, value: Buffer.alloc(0), lease } }],
          failure: [{ request_range: { key: meta } }, { request_range: { key: marker } }],
        });
      } catch (err) {
        // A lease etcd no longer has (etcd restored from a backup, a long pause) fails the put: take a new one next time.
        if (/lease not found/i.test(String((err as Error)?.message))) this.#markerLease = undefined;
        throw storeUnavailable(what, err, this.#endpoints);
      }
      const now = res.succeeded ? undefined : res.responses[0]?.response_range?.kvs[0];
      // Present: an earlier try of this very call committed (the client retried it), at the marker's revision.
      const ours = res.succeeded ? undefined : res.responses[1]?.response_range?.kvs[0];
      if (res.succeeded || ours) {
        const revision = res.succeeded ? Number(res.header.revision) : Number(ours!.mod_revision);
        if (ours) this.#log(`etcd: ${what} committed at revision ${revision} on a try the client retried; answered as written`);
        if (!(await this.#state.waitFor(revision, CATCH_UP_MS))) {
          this.#log(`etcd: ${what} committed at revision ${revision} but this replica's watch has not delivered it yet`);
        }
        return result(revision);
      }
      const current = Number(now?.mod_revision ?? 0);
      if (expectedRevision !== undefined) {
        // Catch up first, so that whoever reads again here (a caller retrying) reads the revision we name.
        await this.#state.waitFor(current, CATCH_UP_MS);
        throw revisionConflict(expectedRevision, current);
      }
      // Another replica wrote one of these resources since our cache last moved: catch up to it and plan again.
      // (config/revision moves with every resource write, so reaching its revision covers them all.)
      await this.#state.waitFor(current, CATCH_UP_MS);
    }
    throw new MeshError(ErrorCode.STORE_UNAVAILABLE, `the configuration changed under this ${what} ${MAX_ATTEMPTS} times in a row; try again`, {
      retryable: true,
    });
  }

  /** The lease markers are put on, granted again once it has served a while (so it always has minutes left). */
  async #leaseForMarkers(): Promise<string> {
    const now = performance.now();
    if (this.#markerLease && now - this.#markerLease.at < MARKER_LEASE_REUSE_MS) return this.#markerLease.id;
    const grant = await this.#state.client.leaseClient.leaseGrant({ TTL: MARKER_LEASE_TTL_S });
    this.#markerLease = { id: grant.ID, at: now };
    return grant.ID;
  }

  #apply(batch: Batch): void {
    const change: StoreChange = { revision: batch.revision, changes: [] };
    for (const c of batch.changes) {
      if (c.key === CONFIG_REVISION) {
        if (c.entry) this.#revision = c.entry.modRevision;
        continue;
      }
      const id = parseResourceKey(c.key);
      if (!id) continue;
      const k = keyOf(id);
      const stored = c.entry ? this.#parse(c.key, c.entry.value, c.entry.modRevision) : undefined;
      const existed = this.#items.has(k);
      if (stored) {
        this.#items.set(k, stored);
        change.changes.push({ ...id, action: existed ? 'updated' : 'created', resource: stored.resource });
      } else if (existed) {
        this.#items.delete(k);
        change.changes.push({ ...id, action: 'deleted', resource: undefined });
      }
    }
    if (change.changes.length > 0) this.#changes.emit(change);
  }

  /** A value someone wrote into etcd by hand is checked like an API write; a bad one is logged and ignored. */
  #parse(key: string, value: Buffer, revision: number): StoredResource | undefined {
    let json: unknown;
    try {
      json = JSON.parse(value.toString('utf8'));
    } catch {
      this.#log(`etcd: ignoring ${key}: not JSON`);
      return undefined;
    }
    const parsed = resourceSchema.safeParse(json);
    const id = parseResourceKey(key);
    if (!parsed.success || !id || keyOf(idOf(parsed.data)) !== keyOf(id)) {
      this.#log(`etcd: ignoring ${key}: not a valid resource for that key`);
      return undefined;
    }
    return { resource: parsed.data, revision };
  }
}
