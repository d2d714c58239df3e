/**
 * The CA's state in etcd, shared by every replica (a view of the replica's
 * EtcdState, like the store and the registry):
 *
 *   ca/state              {trustDomain, version, authorities: [ids, oldest first], active}
 *   ca/authorities/<id>   {certificate, chain, source, createdAt, key: AES-256-GCM ciphertext}
 *
 * - The first replica to start stores its new root with a create-if-absent
 *   transaction on `ca/state`; replicas that lose the race load the winner's.
 * - A rotation or retirement is one transaction: compare `ca/state`'s
 *   mod_revision with the one this replica last read, put the new state, put
 *   the new authority / delete the retired ones. A replica that had not yet
 *   heard of another's change gets a conflict, never a lost update.
 * - Every replica follows `ca/` through its one etcd watch and hands each new
 *   state to the CA (`onChange`), which installs it and pushes the bundle to
 *   its watchers.
 * - Private keys are encrypted with the replica's CA encryption key
 *   (../ca/encryption-keys.ts), bound to the trust domain and the key name.
 *   On start, authorities encrypted with another key than the first one this
 *   replica was given are encrypted again with it (key rotation).
 * - Both records carry integrity tags (./record-mac.ts) and every authority
 *   is checked as an operator's CA is (key matches certificate, chain
 *   verifies up to a self-signed root): a record that fails is refused, at
 *   start (the replica does not start) and from the watch (logged; the state
 *   in force stays), so nothing written into etcd by another party reaches a
 *   trust bundle.
 *
 * Signing never touches etcd: each replica signs with the decrypted key it
 * holds in memory.
 */
import { z } from 'zod';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { Listeners, type Disposer } from '../../core/events.js';
import type { AuthorityRecord } from '../ca/authority.js';
import type { CaState, CaStateStore } from '../ca/ca-state.js';
import { checkAuthority } from '../ca/authority.js';
import { KEY_ALGORITHM, type EncryptionKeys, type SealedKey } from '../ca/encryption-keys.js';
import { conflict } from '../http/http-error.js';
import type { EventLog } from '../log.js';
import { storeUnavailable } from './client.js';
import type { Batch, EtcdState } from './etcd-state.js';
import { CA, CA_STATE, authorityKey } from './keys.js';
import { RecordMac } from './record-mac.js';

const FORMAT = 1;
const CATCH_UP_MS = 5_000;

const stateSchema = z.strictObject({
  format: z.literal(FORMAT),
  trustDomain: z.string().min(1),
  version: z.int().positive(),
  authorities: z.array(z.string().regex(/^[0-9a-f]{16}$/)).min(1),
  active: z.string().min(1),
});

const sealedSchema = z.strictObject({
  alg: z.literal(KEY_ALGORITHM),
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  iv: z.string().min(1),
  tag: z.string().min(1),
  data: z.string().min(1),
});

const authoritySchema = z.strictObject({
  format: z.literal(FORMAT),
  id: z.string().regex(/^[0-9a-f]{16}$/),
  certificate: z.string().min(1),
  chain: z.array(z.string()),
  source: z.enum(['generated', 'supplied']),
  createdAt: z.string(),
  key: sealedSchema,
});

interface Read {
  state: CaState;
  /** mod_revision of `ca/state`: what a replacement compares. */
  modRevision: number;
  /** Each authority's sealed key and its key's mod_revision (for re-encryption), and whether the primary key tagged it. */
  sealed: Map<string, { key: SealedKey; modRevision: number; tagged: boolean }>;
  /** Whether `ca/state` carries a tag of this replica's primary key (else it is tagged again at start). */
  stateTagged: boolean;
}

export class EtcdCaStateStore implements CaStateStore {
  readonly shared = true;
  readonly location: string;
  #state: EtcdState;
  #keys: EncryptionKeys;
  #mac: RecordMac;
  #endpoints: readonly string[];
  #log: EventLog;
  /** The last state read from etcd (loaded, written, or heard from the watch). */
  #seen: Read | undefined;
  /** Decrypted authorities by id, with the mod_revision they were read at. */
  #opened = new Map<string, { modRevision: number; record: AuthorityRecord }>();
  /** mod_revision of a `ca/state` that could not be read, so it is logged once. */
  #failedAt = 0;
  /** `<authority>/<key id>` of authorities kept from memory because they moved to a key this replica lacks (logged once). */
  #keptUnder = new Set<string>();
  #changes = new Listeners<CaState>();
  #unsubscribe: Disposer | undefined;

  constructor(state: EtcdState, keys: EncryptionKeys, endpoints: readonly string[], log: EventLog) {
    this.#state = state;
    this.#keys = keys;
    this.#mac = new RecordMac(keys);
    this.#endpoints = endpoints;
    this.#log = log;
    this.location = `etcd ${endpoints.join(',')} ${state.prefix}${CA} (keys AES-256-GCM, encryption key id ${keys.primary.id})`;
    state.retain();
    this.#unsubscribe = state.onBatch((b) => this.#onBatch(b));
  }

  async load(): Promise<CaState | undefined> {
    const read = this.#read();
    if (!read) return undefined;
    this.#seen = read;
    await this.#reencrypt(read);
    return read.state;
  }

  async create(ours: CaState): Promise<CaState> {
    const stateKey = this.#state.key(CA_STATE);
    let res;
    try {
      res = await this.#state.client.kv.txn({
        compare: [{ key: stateKey, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [...ours.authorities.map((a) => this.#putAuthority(ours.trustDomain, a)), { request_put: { key: stateKey, value: this.#stateValue(ours) } }],
        failure: [{ request_range: { key: stateKey } }],
      });
    } catch (err) {
      throw storeUnavailable('new CA', err, this.#endpoints);
    }
    if (res.succeeded) {
      await this.#state.waitFor(Number(res.header.revision), CATCH_UP_MS);
      this.#seen = this.#read() ?? this.#seen;
      return ours;
    }
    // Another replica made the CA first: take theirs, as soon as this replica's watch has it.
    const theirs = Number(res.responses[0]?.response_range?.kvs[0]?.mod_revision ?? 0);
    if (!(await this.#state.waitFor(theirs, CATCH_UP_MS))) {
      throw storeUnavailable('new CA', new Error(`the CA another replica stored at revision ${theirs} did not reach this replica within ${CATCH_UP_MS} ms`), this.#endpoints);
    }
    const read = this.#read();
    if (!read) throw storeUnavailable('new CA', new Error('the CA another replica stored has disappeared'), this.#endpoints);
    this.#seen = read;
    return read.state;
  }

  async replace(previous: CaState, next: CaState): Promise<void> {
    const seen = this.#seen;
    if (!seen || seen.state.version !== previous.version) {
      throw conflict(`the CA changed through another replica (now bundle v${seen?.state.version ?? '?'}); read it again (GET /v1/ca) and retry`);
    }
    const stateKey = this.#state.key(CA_STATE);
    const before = new Set(previous.authorities.map((a) => a.id));
    const after = new Set(next.authorities.map((a) => a.id));
    const value = this.#stateValue(next);
    let res;
    try {
      res = await this.#state.client.kv.txn({
        compare: [{ key: stateKey, target: 'Mod', result: 'Equal', mod_revision: seen.modRevision }],
        success: [
          ...next.authorities.filter((a) => !before.has(a.id)).map((a) => this.#putAuthority(next.trustDomain, a)),
          ...previous.authorities.filter((a) => !after.has(a.id)).map((a) => ({ request_delete_range: { key: this.#state.key(authorityKey(a.id)) } })),
          { request_put: { key: stateKey, value } },
        ],
        failure: [{ request_range: { key: stateKey } }],
      });
    } catch (err) {
      throw storeUnavailable('CA change', err, this.#endpoints);
    }
    const there = res.succeeded ? undefined : res.responses[0]?.response_range?.kvs[0];
    // The client retries a call that timed out, and the first try may have committed: then the state there is ours.
    const ours = res.succeeded || (there !== undefined && value.equals(there.value));
    const revision = Number(res.succeeded ? res.header.revision : (there?.mod_revision ?? 0));
    if (!ours) {
      // Catch up first, so that a caller who reads again (here) sees the change that won.
      await this.#state.waitFor(revision, CATCH_UP_MS);
      throw conflict(`the CA changed through another replica (now bundle v${this.#seen?.state.version ?? '?'}); read it again (GET /v1/ca) and retry`);
    }
    if (!(await this.#state.waitFor(revision, CATCH_UP_MS))) {
      this.#log(`etcd: CA change committed at revision ${revision} but this replica's watch has not delivered it yet`);
    }
  }

  encryptionKeyId(authorityId: string): string | undefined {
    return this.#seen?.sealed.get(authorityId)?.key.keyId;
  }

  onChange(listener: (state: CaState) => void): Disposer {
    return this.#changes.on(listener);
  }

  async close(): Promise<void> {
    if (!this.#unsubscribe) return;
    this.#unsubscribe();
    this.#unsubscribe = undefined;
    this.#changes.clear();
    this.#opened.clear();
    await this.#state.release();
  }

  #putAuthority(trustDomain: string, a: AuthorityRecord) {
    const name = authorityKey(a.id);
    const { key, ...rest } = a;
    const value = { format: FORMAT, ...rest, key: this.#keys.seal(key, { trustDomain, name }) };
    return { request_put: { key: this.#state.key(name), value: this.#mac.seal(name, value) } };
  }

  #stateValue(state: CaState): Buffer {
    return this.#mac.seal(CA_STATE, {
      format: FORMAT,
      trustDomain: state.trustDomain,
      version: state.version,
      authorities: state.authorities.map((a) => a.id),
      active: state.active,
    });
  }

  /**
   * The state in etcd as this replica's cache holds it, keys decrypted; throws when it cannot be read or
   * does not verify. Keys are opened before the tags are checked only so that a replica given the wrong
   * key says so (the clearer message); nothing is kept or returned until every check has passed.
   */
  #read(): Read | undefined {
    const entry = this.#state.get(CA_STATE);
    if (!entry) return undefined;
    const where = `the CA state in etcd (${this.#state.prefix}${CA_STATE})`;
    const refuse = (what: string, why: string) => new MeshError(ErrorCode.INVALID_CONFIG, `refusing ${what}: ${why}. Restore it from an etcd backup, and check who may write to etcd.`);
    const parsed = stateSchema.safeParse(withoutTags(entry.value));
    if (!parsed.success) {
      throw new MeshError(ErrorCode.INVALID_CONFIG, `cannot read ${where}: ${parsed.error.message}. Restore it from an etcd backup.`);
    }
    const { format: _f, authorities: ids, ...rest } = parsed.data;
    if (!ids.includes(rest.active)) throw new MeshError(ErrorCode.INVALID_CONFIG, `cannot read ${where}: the active authority ${rest.active} is not in it`);
    const authorities: AuthorityRecord[] = [];
    const sealed: Read['sealed'] = new Map();
    const opened = new Map<string, { modRevision: number; record: AuthorityRecord }>();
    for (const id of ids) {
      const name = authorityKey(id);
      const a = this.#state.get(name);
      const at = `CA authority ${id} (${this.#state.prefix}${name})`;
      if (!a) throw new MeshError(ErrorCode.INVALID_CONFIG, `cannot read ${where}: it names ${at}, which is not in etcd`);
      const p = authoritySchema.safeParse(withoutTags(a.value));
      if (!p.success || p.data.id !== id) throw new MeshError(ErrorCode.INVALID_CONFIG, `cannot read ${at}: ${p.success ? 'its id does not match its key' : p.error.message}`);
      sealed.set(id, { key: p.data.key, modRevision: a.modRevision, tagged: this.#mac.tagged(a.value) });
      const cached = this.#opened.get(id);
      if (cached && cached.modRevision === a.modRevision) {
        opened.set(id, cached);
        authorities.push(cached.record);
        continue;
      }
      const { format: _af, key, ...record } = p.data;
      const kept = cached && !this.#keys.has(key.keyId) && sameAuthority(cached.record, record) ? cached.record : undefined;
      // Another replica encrypted an authority this replica already holds again, with a key this one lacks
      // (a key rotation, or a replica given another first key). Nothing about the authority changed: keep the
      // key decrypted earlier, so that later CA changes (rotations, retirements) still install here.
      const pem = kept ? kept.key : this.#keys.open(key, { trustDomain: rest.trustDomain, name }, at);
      const verified = this.#mac.open(name, a.value);
      if (!verified.ok) throw refuse(at, verified.why);
      const fresh: AuthorityRecord = { ...record, key: pem };
      if (!kept) {
        try {
          checkAuthority(fresh);
        } catch (err) {
          throw refuse(at, (err as Error).message);
        }
      } else if (!this.#keptUnder.has(`${id}/${key.keyId}`)) {
        this.#keptUnder.add(`${id}/${key.keyId}`);
        this.#log(
          `WARNING ca: ${at} is now encrypted with CA encryption key id ${key.keyId}, which ${this.#keys.source} does not hold; ` +
            'this replica keeps signing with the key it decrypted at start, but would not start again: give it that key before a restart',
        );
      }
      opened.set(id, { modRevision: a.modRevision, record: fresh });
      authorities.push(fresh);
    }
    const verified = this.#mac.open(CA_STATE, entry.value);
    if (!verified.ok) throw refuse(where, verified.why);
    this.#opened = opened;
    return { state: { ...rest, authorities }, modRevision: entry.modRevision, sealed, stateTagged: this.#mac.tagged(entry.value) };
  }

  #onBatch(batch: Batch): void {
    if (!batch.changes.some((c) => c.key.startsWith(CA))) return;
    let read: Read | undefined;
    try {
      read = this.#read();
    } catch (err) {
      const at = this.#state.get(CA_STATE)?.modRevision ?? 0;
      if (at !== this.#failedAt) {
        this.#failedAt = at;
        this.#log(`error ca: ${(err as Error).message}; this replica keeps CA state v${this.#seen?.state.version ?? '?'} (signing with what it holds) until it can read the new one`);
      }
      return;
    }
    if (!read) return;
    // A key encrypted again (same state) updates what this replica knows of the keys, and is no change of the CA.
    const changed = !this.#seen || read.modRevision !== this.#seen.modRevision;
    this.#seen = read;
    if (changed) this.#changes.emit(read.state);
  }

  /**
   * Authorities encrypted with another key than this replica's first: encrypt them again with it, and tag
   * again what lacks a tag of it (compare-and-swap each). The tags cover every key this replica holds, so a
   * replica still on an older key keeps verifying what is rewritten here.
   */
  async #reencrypt(read: Read): Promise<void> {
    for (const a of read.state.authorities) {
      const s = read.sealed.get(a.id)!;
      const stale = this.#keys.isStale(s.key);
      if (!stale && s.tagged) continue;
      const name = authorityKey(a.id);
      const key = this.#state.key(name);
      try {
        const res = await this.#state.client.kv.txn({
          compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: s.modRevision }],
          success: [this.#putAuthority(read.state.trustDomain, a)],
          failure: [],
        });
        if (res.succeeded) {
          await this.#state.waitFor(Number(res.header.revision), CATCH_UP_MS);
          this.#log(`ca: authority ${a.id} ${stale ? 'encrypted' : 'tagged'} again with key id ${this.#keys.primary.id}${stale ? ` (was ${s.key.keyId})` : ''}`);
        }
      } catch (err) {
        this.#log(`error ca: could not encrypt authority ${a.id} again with key id ${this.#keys.primary.id}: ${(err as Error).message}; it stays under ${s.key.keyId}`);
      }
    }
    if (read.stateTagged) return;
    const key = this.#state.key(CA_STATE);
    try {
      const res = await this.#state.client.kv.txn({
        compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: read.modRevision }],
        success: [{ request_put: { key, value: this.#stateValue(read.state) } }],
        failure: [],
      });
      if (res.succeeded) {
        await this.#state.waitFor(Number(res.header.revision), CATCH_UP_MS);
        this.#log(`ca: state tagged again with key id ${this.#keys.primary.id}`);
      }
    } catch (err) {
      this.#log(`error ca: could not tag the CA state again with key id ${this.#keys.primary.id}: ${(err as Error).message}`);
    }
  }
}

/** A record's JSON without its integrity tags, for the schema (the tags are checked by RecordMac). */
function withoutTags(value: Buffer): unknown {
  try {
    const parsed = JSON.parse(value.toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return parsed;
    const { mac: _mac, ...rest } = parsed as Record<string, unknown>;
    return rest;
  } catch {
    return undefined;
  }
}

/** The same authority, apart from how its private key is encrypted. */
function sameAuthority(held: AuthorityRecord, stored: Omit<AuthorityRecord, 'key'>): boolean {
  return (
    held.id === stored.id &&
    held.certificate === stored.certificate &&
    held.source === stored.source &&
    held.createdAt === stored.createdAt &&
    held.chain.length === stored.chain.length &&
    held.chain.every((c, i) => c === stored.chain[i])
  );
}
