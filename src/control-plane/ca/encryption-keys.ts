/**
 * The keys that encrypt the CA's private keys at rest in a shared store
 * (etcd). Every replica is given the same keys, in a file or an environment
 * variable, never through etcd: whoever reads etcd without them holds
 * ciphertext only.
 *
 * - Format: one key per line (`#` starts a comment), 32 random bytes as
 *   base64 or 64 hex digits (`openssl rand -base64 32`). The FIRST key
 *   encrypts; every key decrypts, so a new key can be rolled out before it is
 *   used, and an old one kept until nothing is encrypted with it.
 * - Key id: 16 hex digits of SHA-256 over a label and the key. It is stored
 *   with each ciphertext so that a replica can say which key it lacks; it
 *   reveals nothing of the key.
 * - AES-256-GCM, a random 96-bit IV per encryption, and as additional
 *   authenticated data the trust domain, the name of the etcd key that holds
 *   the value, and the key id: a ciphertext moved to another key name or into
 *   another mesh does not decrypt.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { checkPrivate } from '../../core/private-file.js';
import { ErrorCode, MeshError } from '../../core/errors.js';

export const KEY_ALGORITHM = 'AES-256-GCM';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const MAX_KEYS = 16;

export interface EncryptionKey {
  id: string;
  key: Buffer;
}

/** A private key as stored: ciphertext and what is needed to check and open it (base64). */
export interface SealedKey {
  alg: typeof KEY_ALGORITHM;
  keyId: string;
  iv: string;
  tag: string;
  data: string;
}

/** What a ciphertext is bound to (its additional authenticated data). */
export interface KeyBinding {
  trustDomain: string;
  /** The name of the etcd key (relative to the mesh's prefix) that holds the value. */
  name: string;
}

export interface EncryptionKeySource {
  /** A file of keys (`--ca-encryption-key-file`). */
  file?: string;
  /** The keys themselves (`HYPHAE_CA_ENCRYPTION_KEY`; lines or commas between keys). */
  inline?: string;
}

export function keyId(key: Buffer): string {
  return createHash('sha256').update('hyphae ca encryption key id\0').update(key).digest('hex').slice(0, 16);
}

function aad(binding: KeyBinding, id: string): Buffer {
  return Buffer.from(`hyphae/ca-key/v1\0${binding.trustDomain}\0${binding.name}\0${id}`, 'utf8');
}

export class EncryptionKeys {
  /** The key that encrypts. */
  readonly primary: EncryptionKey;
  readonly #byId: Map<string, EncryptionKey>;
  /** Where the keys came from, for messages (never the keys). */
  readonly source: string;

  constructor(keys: EncryptionKey[], source: string) {
    this.primary = keys[0]!;
    this.#byId = new Map(keys.map((k) => [k.id, k]));
    this.source = source;
  }

  get ids(): string[] {
    return [...this.#byId.keys()];
  }

  /** Every key, the encrypting one first (record integrity derives its keys from them, see ../etcd/record-mac.ts). */
  get all(): EncryptionKey[] {
    return [...this.#byId.values()];
  }

  static parse(text: string, source: string): EncryptionKeys {
    const fail = (why: string) => new MeshError(ErrorCode.INVALID_OPTIONS, `${source}: ${why}`);
    const keys: EncryptionKey[] = [];
    text.split(/[\n,]/).forEach((line, i) => {
      const item = line.replace(/#.*$/, '').trim();
      if (!item) return;
      const key = /^[0-9a-fA-F]{64}$/.test(item) ? Buffer.from(item, 'hex') : /^[A-Za-z0-9+/_-]+={0,2}$/.test(item) ? Buffer.from(item, 'base64') : undefined;
      if (!key || key.length !== KEY_BYTES) {
        throw fail(`key ${i + 1} is not ${KEY_BYTES} bytes in base64 or hex (make one with: openssl rand -base64 32)`);
      }
      const id = keyId(key);
      if (keys.some((k) => k.id === id)) throw fail(`key ${i + 1} is given twice`);
      keys.push({ id, key });
    });
    if (keys.length === 0) throw fail('holds no key (make one with: openssl rand -base64 32)');
    if (keys.length > MAX_KEYS) throw fail(`holds ${keys.length} keys; at most ${MAX_KEYS}`);
    return new EncryptionKeys(keys, source);
  }

  /** Read the keys from a file or from the given text. */
  static async load(src: EncryptionKeySource): Promise<{ keys: EncryptionKeys; warning?: string }> {
    if (src.inline !== undefined) return { keys: EncryptionKeys.parse(src.inline, 'HYPHAE_CA_ENCRYPTION_KEY') };
    const file = src.file!;
    const where = `--ca-encryption-key-file ${file}`;
    // It decrypts the CA's keys: a file another user could have written could hold their key instead.
    await checkPrivate(file, '--ca-encryption-key-file');
    let text: string;
    let mode: number;
    try {
      [text, mode] = await Promise.all([readFile(file, 'utf8'), stat(file).then((s) => s.mode)]);
    } catch (err) {
      throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot read ${where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const keys = EncryptionKeys.parse(text, where);
    const warning = (mode & 0o077) !== 0 ? `${where} can be read by other users (mode ${(mode & 0o777).toString(8)}); it decrypts the CA's key: chmod 600 it` : undefined;
    return { keys, warning };
  }

  seal(plaintext: string, binding: KeyBinding): SealedKey {
    const { id, key } = this.primary;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad(binding, id));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { alg: KEY_ALGORITHM, keyId: id, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  }

  /** The plaintext; INVALID_OPTIONS naming the key id when this replica lacks the key or the value does not authenticate. */
  open(sealed: SealedKey, binding: KeyBinding, where: string): string {
    const k = this.#byId.get(sealed.keyId);
    if (!k) {
      throw new MeshError(
        ErrorCode.INVALID_OPTIONS,
        `cannot decrypt ${where}: it is encrypted with CA encryption key id ${sealed.keyId}, and ${this.source} holds key id${this.#byId.size > 1 ? 's' : ''} ${this.ids.join(', ')}. ` +
          'Every replica must be given the same key (see "Running replicas securely" in docs/usage.md).',
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', k.key, Buffer.from(sealed.iv, 'base64'));
      decipher.setAAD(aad(binding, k.id));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new MeshError(
        ErrorCode.INVALID_OPTIONS,
        `cannot decrypt ${where} with CA encryption key id ${k.id}: the value does not authenticate (altered, or moved from another key name or trust domain "${binding.trustDomain}")`,
      );
    }
  }

  /** Whether this replica holds the key of that id. */
  has(keyId: string): boolean {
    return this.#byId.has(keyId);
  }

  /** Whether `sealed` should be encrypted again with the primary key. */
  isStale(sealed: SealedKey): boolean {
    return sealed.keyId !== this.primary.id;
  }
}
