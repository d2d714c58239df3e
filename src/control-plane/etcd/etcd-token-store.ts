/**
 * Join tokens and the admin token's digest in etcd, shared by every replica
 * (a view of the replica's EtcdState):
 *
 *   auth/tokens/<id>   {id, service, namespace, digest, createdAt, expiresAt}
 *   auth/admin         {digest, createdAt}
 *
 * Both carry integrity tags (./record-mac.ts): a record written into etcd by
 * anything but a replica authenticates nobody and is logged as an error.
 *
 * Only SHA-256 digests are stored, never a secret. A token made through one
 * replica works at every replica as soon as their watches deliver it (a few
 * milliseconds); a revocation (a delete) stops it everywhere the same way.
 * The replica that made the change answers only once its own watch has it.
 */
import { z } from 'zod';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { Listeners, type Disposer } from '../../core/events.js';
import type { SharedAdminDigest } from '../auth/admin-token.js';
import { storedTokenSchema, type StoredToken, type TokenStore } from '../auth/token-store.js';
import { conflict } from '../http/http-error.js';
import type { EventLog } from '../log.js';
import { storeUnavailable } from './client.js';
import type { Batch, Entry, EtcdState } from './etcd-state.js';
import { ADMIN_TOKEN, JOIN_TOKENS, joinTokenKey } from './keys.js';
import type { RecordMac } from './record-mac.js';

const CATCH_UP_MS = 5_000;

const adminSchema = z.strictObject({ format: z.literal(1), digest: z.string().regex(/^[0-9a-f]{64}$/), createdAt: z.string() });

export class EtcdTokenStore implements TokenStore, SharedAdminDigest {
  readonly location: string;
  #state: EtcdState;
  #endpoints: readonly string[];
  #log: EventLog;
  #mac: RecordMac;
  #tokens = new Map<string, StoredToken>();
  #removed = new Listeners<string>();
  #admin: Buffer | undefined;
  #unsubscribe: Disposer | undefined;

  constructor(state: EtcdState, mac: RecordMac, endpoints: readonly string[], log: EventLog) {
    this.#state = state;
    this.#mac = mac;
    this.#endpoints = endpoints;
    this.#log = log;
    this.location = `etcd ${state.prefix}auth/`;
    // Read and subscribe in one synchronous step: no watch batch can fall between them.
    state.retain();
    for (const [key, entry] of state.entries(JOIN_TOKENS)) this.#setToken(key, entry);
    const admin = state.get(ADMIN_TOKEN);
    if (admin) this.#setAdmin(admin);
    this.#unsubscribe = state.onBatch((b) => this.#onBatch(b));
  }

  /** Records that verify but lack a tag of this replica's primary key are tagged again (see record-mac.ts). */
  async load(): Promise<void> {
    const names = [...[...this.#state.entries(JOIN_TOKENS)].map(([key]) => key), ADMIN_TOKEN];
    for (const name of names) {
      const entry = this.#state.get(name);
      if (!entry || this.#mac.tagged(entry.value)) continue;
      const opened = this.#mac.open(name, entry.value);
      if (!opened.ok) continue;
      const key = this.#state.key(name);
      try {
        const res = await this.#state.client.kv.txn({
          compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: entry.modRevision }],
          success: [{ request_put: { key, value: this.#mac.seal(name, opened.record) } }],
          failure: [],
        });
        if (res.succeeded) await this.#caughtUp(Number(res.header.revision), 'tagging again');
      } catch (err) {
        this.#log(`error etcd: could not tag ${this.#state.prefix}${name} again: ${(err as Error).message}`);
      }
    }
  }

  get(id: string): StoredToken | undefined {
    return this.#tokens.get(id);
  }

  list(): StoredToken[] {
    return [...this.#tokens.values()];
  }

  async add(token: StoredToken): Promise<void> {
    const key = this.#state.key(joinTokenKey(token.id));
    const value = this.#mac.seal(joinTokenKey(token.id), { ...token });
    let res;
    try {
      res = await this.#state.client.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value } }],
        failure: [{ request_range: { key } }],
      });
    } catch (err) {
      throw storeUnavailable('join token', err, this.#endpoints);
    }
    const there = res.succeeded ? undefined : res.responses[0]?.response_range?.kvs[0];
    // The client retries a call that timed out, and the first try may have committed: that is our own token.
    if (!res.succeeded && !(there && value.equals(there.value))) {
      // 64 random bits of id: a collision is a one-in-2^64 event, but never overwrite.
      throw conflict(`join token id ${token.id} exists already; try again`);
    }
    await this.#caughtUp(Number(res.succeeded ? res.header.revision : there!.mod_revision), 'join token');
  }

  async remove(id: string): Promise<StoredToken | undefined> {
    const known = this.#tokens.get(id);
    let res;
    try {
      res = await this.#state.client.kv.deleteRange({ key: this.#state.key(joinTokenKey(id)), prev_kv: true });
    } catch (err) {
      throw storeUnavailable('revocation', err, this.#endpoints);
    }
    if (Number(res.deleted) === 0) return undefined;
    await this.#caughtUp(Number(res.header.revision), 'revocation');
    const prev = res.prev_kvs[0] ? this.#parseToken(joinTokenKey(id), res.prev_kvs[0].value) : undefined;
    return prev ?? known;
  }

  onRemoved(listener: (id: string) => void): Disposer {
    return this.#removed.on(listener);
  }

  adminDigest(): Buffer | undefined {
    return this.#admin;
  }

  async createAdmin(digest: Buffer): Promise<Buffer> {
    const key = this.#state.key(ADMIN_TOKEN);
    let res;
    try {
      res = await this.#state.client.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value: this.#mac.seal(ADMIN_TOKEN, { format: 1, digest: digest.toString('hex'), createdAt: new Date().toISOString() }) } }],
        failure: [{ request_range: { key } }],
      });
    } catch (err) {
      throw storeUnavailable('admin token', err, this.#endpoints);
    }
    const revision = res.succeeded ? Number(res.header.revision) : Number(res.responses[0]?.response_range?.kvs[0]?.mod_revision ?? 0);
    await this.#caughtUp(revision, 'admin token');
    if (!this.#admin && this.#state.get(ADMIN_TOKEN)) {
      throw new MeshError(ErrorCode.INVALID_CONFIG, `refusing ${this.#state.prefix}${ADMIN_TOKEN}: it does not verify (see the log). Restore it from an etcd backup, and see who can write to etcd.`);
    }
    if (!this.#admin) throw storeUnavailable('admin token', new Error('the admin token digest did not reach this replica'), this.#endpoints);
    return this.#admin;
  }

  async close(): Promise<void> {
    if (!this.#unsubscribe) return;
    this.#unsubscribe();
    this.#unsubscribe = undefined;
    this.#removed.clear();
    await this.#state.release();
  }

  async #caughtUp(revision: number, what: string): Promise<void> {
    if (!(await this.#state.waitFor(revision, CATCH_UP_MS))) {
      this.#log(`etcd: ${what} committed at revision ${revision} but this replica's watch has not delivered it yet`);
    }
  }

  #onBatch(batch: Batch): void {
    for (const c of batch.changes) {
      if (c.key.startsWith(JOIN_TOKENS)) {
        if (c.entry) this.#setToken(c.key, c.entry);
        else if (this.#tokens.delete(c.key.slice(JOIN_TOKENS.length))) {
          const id = c.key.slice(JOIN_TOKENS.length);
          this.#log(`token revoked ${id} (etcd revision ${batch.revision})`);
          // Every replica hears a revocation made through any one: each closes its own streams opened with it.
          this.#removed.emit(id);
        }
      } else if (c.key === ADMIN_TOKEN) {
        if (c.entry) this.#setAdmin(c.entry);
        else this.#log(`error etcd: ${this.#state.prefix}${ADMIN_TOKEN} was deleted; this replica keeps the admin token it knew`);
      }
    }
  }

  /** A value written into etcd by anything but a replica is logged and ignored: it authenticates nobody. */
  #setToken(key: string, entry: Entry): void {
    const id = key.slice(JOIN_TOKENS.length);
    const opened = this.#mac.open(key, entry.value);
    if (!opened.ok) {
      this.#log(`error etcd: refusing ${this.#state.prefix}${key} (${ErrorCode.INVALID_CONFIG}): ${opened.why}`);
      if (this.#tokens.delete(id)) this.#removed.emit(id);
      return;
    }
    const parsed = storedTokenSchema.safeParse(opened.record);
    if (!parsed.success || parsed.data.id !== id) {
      this.#log(`error etcd: refusing ${this.#state.prefix}${key}: not a join token for that key`);
      if (this.#tokens.delete(id)) this.#removed.emit(id);
      return;
    }
    this.#tokens.set(id, parsed.data);
  }

  /** A refused admin digest leaves the one this replica knew in force. */
  #setAdmin(entry: Entry): void {
    const opened = this.#mac.open(ADMIN_TOKEN, entry.value);
    if (!opened.ok) {
      this.#log(`error etcd: refusing ${this.#state.prefix}${ADMIN_TOKEN} (${ErrorCode.INVALID_CONFIG}): ${opened.why}; this replica keeps the admin token it knew`);
      return;
    }
    const parsed = adminSchema.safeParse(opened.record);
    if (!parsed.success) {
      this.#log(`error etcd: refusing ${this.#state.prefix}${ADMIN_TOKEN}: not an admin token digest`);
      return;
    }
    this.#admin = Buffer.from(parsed.data.digest, 'hex');
  }

  #parseToken(name: string, value: Buffer): StoredToken | undefined {
    const opened = this.#mac.open(name, value);
    if (!opened.ok) return undefined;
    const parsed = storedTokenSchema.safeParse(opened.record);
    return parsed.success ? parsed.data : undefined;
  }
}
