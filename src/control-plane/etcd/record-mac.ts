/**
 * Integrity of the records in etcd that decide whom the mesh trusts: the
 * admin token's digest, join tokens, the CA state and its authorities.
 *
 * Encryption protects the CA's private key from a reader of etcd; it does not
 * stop a *writer* of etcd from adding a join token, replacing the admin
 * digest, or putting its own root into the chain that every replica sends to
 * every workload. So each such record carries HMAC-SHA256 tags, keyed with
 * keys derived (HKDF) from the CA encryption keys every replica is given and
 * bound to the record's key name, and a replica refuses a record that does
 * not verify: a writer without the keys can only delete (deny service).
 *
 * One tag per encryption key the writer holds (`mac: {<keyId>: <base64>}`),
 * so that during a key rotation a replica that has only the old key still
 * verifies what a replica holding [new, old] wrote; a verifier accepts any
 * tag made with a key it holds.
 *
 * Not covered: replaying a record that was once valid (putting back a
 * revoked token's record, or an older CA state). The CA refuses a state older
 * than the one it holds; a revived token record is only prevented by etcd's
 * own access control (docs/usage.md, "Running replicas securely").
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { EncryptionKeys } from '../ca/encryption-keys.js';

const INFO = 'hyphae/etcd-record-mac/v1';

export type RecordTags = Record<string, string>;

export class RecordMac {
  readonly #keys: Map<string, Buffer>;
  readonly #primary: string;

  constructor(keys: EncryptionKeys) {
    this.#keys = new Map(keys.all.map((k) => [k.id, Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), INFO, 32))]));
    this.#primary = keys.primary.id;
  }

  /**
   * Whether a stored value carries a tag of this replica's primary key. A
   * record that does not is tagged again at start (with every key held), so
   * that once an old key is dropped everywhere, the records still verify.
   */
  tagged(value: Buffer): boolean {
    try {
      const mac = (JSON.parse(value.toString('utf8')) as { mac?: unknown }).mac;
      return typeof mac === 'object' && mac !== null && this.#primary in mac;
    } catch {
      return false;
    }
  }

  /** The record (without `mac`) as stored: its JSON with the tags added. */
  seal(name: string, record: Record<string, unknown>): Buffer {
    const body = JSON.stringify(record);
    const mac: RecordTags = {};
    for (const [id, key] of this.#keys) mac[id] = tag(key, name, body).toString('base64');
    return Buffer.from(JSON.stringify({ ...record, mac }));
  }

  /**
   * The record without its tags when one of them verifies; otherwise why not.
   * The JSON is re-serialised for checking, so anything but the exact bytes
   * `seal` made (reordered, re-escaped, altered) fails: refusing is safe.
   */
  open(name: string, value: Buffer): { ok: true; record: Record<string, unknown> } | { ok: false; why: string } {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value.toString('utf8'));
    } catch {
      return { ok: false, why: 'not JSON' };
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, why: 'not a JSON object' };
    const { mac, ...record } = parsed as Record<string, unknown>;
    if (typeof mac !== 'object' || mac === null) return { ok: false, why: 'it carries no integrity tag (written by something other than a replica?)' };
    const body = JSON.stringify(record);
    const ids = Object.keys(mac);
    for (const id of ids) {
      const key = this.#keys.get(id);
      const presented = (mac as Record<string, unknown>)[id];
      if (!key || typeof presented !== 'string') continue;
      const expected = tag(key, name, body);
      const got = Buffer.from(presented, 'base64');
      if (got.length === expected.length && timingSafeEqual(got, expected)) return { ok: true, record };
    }
    const known = ids.some((id) => this.#keys.has(id));
    return {
      ok: false,
      why: known
        ? 'its integrity tag does not verify (altered in etcd, or moved from another key name)'
        : `its integrity tags are for CA encryption key id(s) ${ids.slice(0, 4).join(', ') || '(none)'}, and this replica holds ${[...this.#keys.keys()].join(', ')}`,
    };
  }
}

function tag(key: Buffer, name: string, body: string): Buffer {
  return createHmac('sha256', key).update(name).update('\0').update(body).digest();
}
