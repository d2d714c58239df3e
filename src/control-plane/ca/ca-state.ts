/**
 * The CA's persistent state, behind a small interface: the embedded store
 * keeps it in one 0600 file in the data directory; a replicated control plane
 * will keep it in etcd, encrypted, shared by every replica.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import type { AuthorityRecord } from './authority.js';

export interface CaState {
  trustDomain: string;
  /** The trust bundle's version: grows with every rotation and retirement. */
  version: number;
  /** Every authority whose root is in the trust bundle, oldest first. */
  authorities: AuthorityRecord[];
  /** The id of the authority that signs new leaves. */
  active: string;
}

export interface CaStateStore {
  /** Undefined the first time (no CA yet). */
  load(): Promise<CaState | undefined>;
  save(state: CaState): Promise<void>;
  /** Where the state lives, for log lines. */
  readonly location: string;
}

const FORMAT = 1;

const authoritySchema = z.strictObject({
  id: z.string().min(1),
  certificate: z.string().min(1),
  key: z.string().min(1),
  chain: z.array(z.string()),
  source: z.enum(['generated', 'supplied']),
  createdAt: z.string(),
});

const fileSchema = z.strictObject({
  format: z.literal(FORMAT),
  trustDomain: z.string().min(1),
  version: z.int().positive(),
  authorities: z.array(authoritySchema).min(1),
  active: z.string().min(1),
});

export const CA_STATE_FILE = 'ca.json';

export class FileCaStateStore implements CaStateStore {
  readonly location: string;

  constructor(dataDir: string) {
    this.location = path.join(dataDir, CA_STATE_FILE);
  }

  async load(): Promise<CaState | undefined> {
    let text: string;
    try {
      text = await readFile(this.location, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let parsed: z.output<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new MeshError(ErrorCode.INVALID_CONFIG, `cannot load the CA state ${this.location}: ${(err as Error).message}. Restore it from a backup; moving it away makes a new CA that no workload trusts yet.`);
    }
    if (!parsed.authorities.some((a) => a.id === parsed.active)) {
      throw new MeshError(ErrorCode.INVALID_CONFIG, `cannot load the CA state ${this.location}: the active authority ${parsed.active} is not in it`);
    }
    const { format: _format, ...state } = parsed;
    return state;
  }

  /** Atomic, and 0600: the file holds the CA's private keys. */
  async save(state: CaState): Promise<void> {
    await writeFileAtomic(this.location, `${JSON.stringify({ format: FORMAT, ...state }, null, 2)}\n`);
  }
}
