/**
 * Join tokens and the admin token's digest in etcd, shared by every replica
 * (a view of the replica's EtcdState):
 *
 *   auth/tokens/<id>   {id, service, namespace, digest, createdAt, expiresAt}
 *   auth/admin         {digest, createdAt}
 *
 * Only SHA-256 digests are stored, never a secret. A token made through one
 * replica works at every replica as soon as their watches deliver it (a few
 * milliseconds); a revocation (a delete) stops it everywhere the same way.
 * The replica that made the change answers only once its own watch has it.
 */
import { z } from 'zod';
import type { Disposer } from '../../core/events.js';
import type { SharedAdminDigest } from '../auth/admin-token.js';
import { storedTokenSchema, type StoredToken, type TokenStore } from '../auth/token-store.js';
import { conflict } from '../http/http-error.js';
import type { EventLog } from '../log.js';
import { storeUnavailable } from './client.js';
import type { Batch, Entry, EtcdState } from './etcd-state.js';
import { ADMIN_TOKEN, JOIN_TOKENS, joinTokenKey } from './keys.js';

const CATCH_UP_MS = 5_000;

const adminSchema = z.strictObject({ format: z.literal(1), digest: z.string().regex(/^[0-9a-f]{64}$/), createdAt: z.string() });

export class EtcdTokenStore implements TokenStore, SharedAdminDigest {
  readonly location: string;
  #state: EtcdState;
  #endpoints: readonly string[];
  #log: EventLog;
  #tokens = new Map<string, StoredToken>();
  #admin: Buffer | undefined;
  #unsubscribe: Disposer | undefined;

  constructor(state: EtcdState, endpoints: readonly string[], log: EventLog) {
    this.#state = state;
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

  async load(): Promise<void> {}

  get(id: string): StoredToken | undefined {
    return this.#tokens.get(id);
  }

  list(): StoredToken[] {
    return [...this.#tokens.values()];
  }

  async add(token: StoredToken): Promise<void> {
    const key = this.#state.key(joinTokenKey(token.id));
    const value = Buffer.from(JSON.stringify(token));
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
    const prev = res.prev_kvs[0] ? parseToken(res.prev_kvs[0].value) : undefined;
    return prev ?? known;
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
        success: [{ request_put: { key, value: Buffer.from(JSON.stringify({ format: 1, digest: digest.toString('hex'), createdAt: new Date().toISOString() })) } }],
        failure: [{ request_range: { key } }],
      });
    } catch (err) {
      throw storeUnavailable('admin token', err, this.#endpoints);
    }
    const revision = res.succeeded ? Number(res.header.revision) : Number(res.responses[0]?.response_range?.kvs[0]?.mod_revision ?? 0);
    await this.#caughtUp(revision, 'admin token');
    if (!this.#admin) throw storeUnavailable('admin token', new Error('the admin token digest did not reach this replica'), this.#endpoints);
    return this.#admin;
  }

  async close(): Promise<void> {
    if (!this.#unsubscribe) return;
    this.#unsubscribe();
    this.#unsubscribe = undefined;
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
        else if (this.#tokens.delete(c.key.slice(JOIN_TOKENS.length))) this.#log(`token revoked ${c.key.slice(JOIN_TOKENS.length)} (etcd revision ${batch.revision})`);
      } else if (c.key === ADMIN_TOKEN) {
        if (c.entry) this.#setAdmin(c.entry);
        else this.#log(`error etcd: ${this.#state.prefix}${ADMIN_TOKEN} was deleted; this replica keeps the admin token it knew`);
      }
    }
  }

  /** A value someone wrote into etcd by hand is checked; a bad one is logged and ignored (it authenticates nobody). */
  #setToken(key: string, entry: Entry): void {
    const id = key.slice(JOIN_TOKENS.length);
    const token = parseToken(entry.value);
    if (!token || token.id !== id) {
      this.#log(`etcd: ignoring ${key}: not a join token for that key`);
      this.#tokens.delete(id);
      return;
    }
    this.#tokens.set(id, token);
  }

  #setAdmin(entry: Entry): void {
    const parsed = adminSchema.safeParse(parseJsonValue(entry.value));
    if (!parsed.success) {
      this.#log(`error etcd: ignoring ${this.#state.prefix}${ADMIN_TOKEN}: not an admin token digest`);
      return;
    }
    this.#admin = Buffer.from(parsed.data.digest, 'hex');
  }
}

function parseToken(value: Buffer): StoredToken | undefined {
  const parsed = storedTokenSchema.safeParse(parseJsonValue(value));
  return parsed.success ? parsed.data : undefined;
}

function parseJsonValue(value: Buffer): unknown {
  try {
    return JSON.parse(value.toString('utf8'));
  } catch {
    return undefined;
  }
}
