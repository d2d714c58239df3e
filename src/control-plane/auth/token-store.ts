/**
 * Where join tokens are kept: only their SHA-256 digests, never the secrets.
 * Behind an interface, like the CA state: a replicated control plane keeps
 * them in etcd.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { nameSchema } from '../../config/names.js';
import { writeFileAtomic } from '../store/atomic-write.js';

export interface StoredToken {
  id: string;
  service: string;
  namespace: string;
  /** Hex SHA-256 of the secret. */
  digest: string;
  createdAt: string;
  expiresAt: string | null;
}

export interface TokenStore {
  load(): Promise<StoredToken[]>;
  save(tokens: readonly StoredToken[]): Promise<void>;
}

const fileSchema = z.strictObject({
  format: z.literal(1),
  tokens: z.array(
    z.strictObject({
      id: z.string().min(1),
      service: nameSchema,
      namespace: nameSchema,
      digest: z.string().regex(/^[0-9a-f]{64}$/),
      createdAt: z.string(),
      expiresAt: z.string().nullable(),
    }),
  ),
});

export const TOKENS_FILE = 'tokens.json';

export class FileTokenStore implements TokenStore {
  readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, TOKENS_FILE);
  }

  async load(): Promise<StoredToken[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    try {
      return fileSchema.parse(JSON.parse(text)).tokens;
    } catch (err) {
      throw new MeshError(ErrorCode.INVALID_CONFIG, `cannot load the join tokens ${this.file}: ${(err as Error).message}. Restore it from a backup, or move it away (every join token is then revoked).`);
    }
  }

  async save(tokens: readonly StoredToken[]): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify({ format: 1, tokens }, null, 2)}\n`);
  }
}
