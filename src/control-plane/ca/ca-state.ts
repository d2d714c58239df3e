/**
 * The CA's persistent state, behind a small interface: the embedded store
 * keeps it in one 0600 file in the data directory; a replicated control plane
 * keeps it in etcd, its private keys encrypted, shared by every replica
 * (../etcd/etcd-ca-state.ts).
 */
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, MeshError } from '../../core/errors.js';
import type { Disposer } from '../../core/events.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import type { AuthorityRecord } from './authority.js';
import { readIfExists } from '../../core/optional-file.js';

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
  /** Where the state lives, for log lines. */
  readonly location: string;
  /**
   * True when other control planes share the state (etcd): they sign leaves
   * too, and may rotate or retire, so this one learns of changes through
   * `onChange` and cannot know every leaf that was signed.
   */
  readonly shared: boolean;
  /** Undefined the first time (no CA yet). */
  load(): Promise<CaState | undefined>;
  /**
   * Store the first state unless there is one already (another replica made
   * its CA first); resolves with the state in force, ours or theirs.
   */
  create(state: CaState): Promise<CaState>;
  /**
   * Replace `previous` with `next`, only if `previous` is still what is
   * stored: HYPHAE_ERR_CONFLICT otherwise (another replica rotated or
   * retired meanwhile).
   */
  replace(previous: CaState, next: CaState): Promise<void>;
  /** The id of the key that encrypts an authority's private key at rest (shared stores only). */
  encryptionKeyId?(authorityId: string): string | undefined;
  /** Changes made through another replica, once stored. */
  onChange?(listener: (state: CaState) => void): Disposer;
  close?(): Promise<void>;
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
  readonly shared = false;

  constructor(dataDir: string) {
    this.location = path.join(dataDir, CA_STATE_FILE);
  }

  async load(): Promise<CaState | undefined> {
    const text = await readIfExists(this.location);
    if (text === undefined) return undefined;
    let parsed: z.output<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new MeshError(
        ErrorCode.INVALID_CONFIG,
        `cannot load the CA state ${this.location}: ${(err as Error).message}. Restore it from a backup; moving it away makes a new CA that no workload trusts yet.`,
      );
    }
    if (!parsed.authorities.some((a) => a.id === parsed.active)) {
      throw new MeshError(ErrorCode.INVALID_CONFIG, `cannot load the CA state ${this.location}: the active authority ${parsed.active} is not in it`);
    }
    const { format: _format, ...state } = parsed;
    return state;
  }

  /** One control plane per data directory (a lock file): nobody else can have made it meanwhile. */
  async create(state: CaState): Promise<CaState> {
    await this.#save(state);
    return state;
  }

  /** The CA runs its changes one at a time and is the only writer: nothing to compare. */
  async replace(_previous: CaState, next: CaState): Promise<void> {
    await this.#save(next);
  }

  /** Atomic, and 0600: the file holds the CA's private keys. */
  async #save(state: CaState): Promise<void> {
    await writeFileAtomic(this.location, `${JSON.stringify({ format: FORMAT, ...state }, null, 2)}\n`);
  }
}
