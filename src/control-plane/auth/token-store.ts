/**
 * Where join tokens are kept: only their SHA-256 digests, never the secrets.
 * Behind an interface, like the CA state: a replicated control plane keeps
 * them in etcd (../etcd/etcd-token-store.ts), where a token made or revoked
 * through one replica is seen by every other one. Reads are synchronous, from
 * memory: every authenticated API call looks a token up.
 */
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { Listeners, type Disposer } from '../../core/events.js';
import { nameSchema } from '../../config/names.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { readIfExists } from '../../core/optional-file.js';

export interface StoredJoinToken {
  id: string;
  kind?: undefined;
  service: string;
  namespace: string;
  /** Hex SHA-256 of the secret. */
  digest: string;
  createdAt: string;
  expiresAt: string | null;
}

/** Read-only (dashboard, read-only views): bound to no identity. */
export interface StoredViewerToken {
  id: string;
  kind: 'viewer';
  digest: string;
  createdAt: string;
  expiresAt: string | null;
}

export type StoredToken = StoredJoinToken | StoredViewerToken;

export interface TokenStore {
  /** Read what is stored; once, before anything else. */
  load(): Promise<void>;
  get(id: string): StoredToken | undefined;
  list(): StoredToken[];
  /** Durable before it resolves. */
  add(token: StoredToken): Promise<void>;
  /** Resolves with the removed token, undefined when there was none. */
  remove(id: string): Promise<StoredToken | undefined>;
  /**
   * Called with the id of every token that stops existing, however it went:
   * removed here, or (etcd) deleted through another replica. Open watch
   * streams authenticated with it are closed on it.
   */
  onRemoved(listener: (id: string) => void): Disposer;
  close?(): Promise<void>;
}

/** One stored token, as validated when read back (from a file, or from etcd). Join tokens keep their original shape. */
export const storedTokenSchema = z.union([
  z.strictObject({
    id: z.string().regex(/^jt_[0-9a-f]{16}$/),
    service: nameSchema,
    namespace: nameSchema,
    digest: z.string().regex(/^[0-9a-f]{64}$/),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
  }),
  z.strictObject({
    id: z.string().regex(/^vt_[0-9a-f]{16}$/),
    kind: z.literal('viewer'),
    digest: z.string().regex(/^[0-9a-f]{64}$/),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
  }),
]);

const fileSchema = z.strictObject({
  format: z.literal(1),
  tokens: z.array(storedTokenSchema),
});

export const TOKENS_FILE = 'tokens.json';

export class FileTokenStore implements TokenStore {
  readonly file: string;
  #tokens = new Map<string, StoredToken>();
  #removed = new Listeners<string>();

  constructor(dataDir: string) {
    this.file = path.join(dataDir, TOKENS_FILE);
  }

  async load(): Promise<void> {
    const text = await readIfExists(this.file);
    if (text === undefined) return;
    let tokens: StoredToken[];
    try {
      tokens = fileSchema.parse(JSON.parse(text)).tokens;
    } catch (err) {
      throw new MeshError(
        ErrorCode.INVALID_CONFIG,
        `cannot load the join tokens ${this.file}: ${(err as Error).message}. Restore it from a backup, or move it away (every join token is then revoked).`,
      );
    }
    this.#tokens = new Map(tokens.map((t) => [t.id, t]));
  }

  get(id: string): StoredToken | undefined {
    return this.#tokens.get(id);
  }

  list(): StoredToken[] {
    return [...this.#tokens.values()];
  }

  /** Callers run writes one at a time (Tokens does). */
  async add(token: StoredToken): Promise<void> {
    const next = new Map(this.#tokens).set(token.id, token);
    await this.#save(next);
    this.#tokens = next;
  }

  async remove(id: string): Promise<StoredToken | undefined> {
    const token = this.#tokens.get(id);
    if (!token) return undefined;
    const next = new Map(this.#tokens);
    next.delete(id);
    await this.#save(next);
    this.#tokens = next;
    this.#removed.emit(id);
    return token;
  }

  onRemoved(listener: (id: string) => void): Disposer {
    return this.#removed.on(listener);
  }

  async #save(tokens: Map<string, StoredToken>): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify({ format: 1, tokens: [...tokens.values()] }, null, 2)}\n`);
  }
}
