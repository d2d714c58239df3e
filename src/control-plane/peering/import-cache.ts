/**
 * What each peer last exported, kept in the data directory (`peer-imports/<peer>.json`, mode 0600,
 * atomic writes), so that a control plane restarted while a peer is out of reach still hands its
 * watchers that peer's instances (fail-static across a restart, not only across a dropped link), with
 * their true age. The file holds the peer's update as it came: on load it goes through the same checks
 * as a live update (Imports.apply), so a file edited by hand or cut short is refused, never trusted.
 *
 * Writes are coalesced per peer: one in flight, and the newest update after it, however many came
 * meanwhile (a peer whose instances churn sends an update per change, up to 8 MiB each).
 *
 * The file's modification time says when its update was last known current: written at the update, then
 * moved on (`touch`) while the link that delivered it stays up. A link up for a day with no change must
 * not come back from a restart as a day-old copy; rewriting up to 8 MiB per heartbeat to say so would cost
 * more than the metadata write.
 */
import { mkdir, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { readIfExists } from '../../core/optional-file.js';

export const IMPORTS_DIR = 'peer-imports';

export interface CachedImports {
  /** The peer's `exports` update, parsed, not yet checked. */
  exports: unknown;
  /** When it was applied (ms since the epoch). */
  syncedAt: number;
  /** When it was last known current (the file's modification time; at least `syncedAt`). */
  confirmedAt: number;
}

type Pending = { text: string; syncedAt: number } | { touchedAt: number } | null;

export class ImportCache {
  readonly dir: string;
  #pending = new Map<string, Pending>();
  #writing = new Map<string, Promise<void>>();
  #warn: (message: string) => void;

  constructor(dataDir: string, warn: (message: string) => void) {
    this.dir = path.join(dataDir, IMPORTS_DIR);
    this.#warn = warn;
  }

  /** Peer names are cluster names (DNS labels, checked before a peering is stored): safe as file names. */
  #file(peer: string): string {
    return path.join(this.dir, `${peer}.json`);
  }

  /** What `peer` last sent, or undefined (none kept, or the file is not what this cache writes). */
  async load(peer: string): Promise<CachedImports | undefined> {
    let text: string | undefined;
    let modifiedAt = 0;
    try {
      text = await readIfExists(this.#file(peer));
      if (text !== undefined) modifiedAt = (await stat(this.#file(peer))).mtimeMs;
    } catch (err) {
      this.#warn(`${this.#file(peer)} unreadable, ${peer}'s imports wait for its link: ${(err as Error).message}`);
      return undefined;
    }
    if (text === undefined) return undefined;
    try {
      const parsed = JSON.parse(text) as { syncedAt?: unknown; exports?: unknown };
      if (typeof parsed.syncedAt !== 'number' || !Number.isFinite(parsed.syncedAt) || parsed.exports === undefined) throw new Error('not a saved update');
      return { exports: parsed.exports, syncedAt: parsed.syncedAt, confirmedAt: Math.max(parsed.syncedAt, modifiedAt) };
    } catch (err) {
      this.#warn(`${this.#file(peer)} is not a saved update (${(err as Error).message}); ${peer}'s imports wait for its link`);
      return undefined;
    }
  }

  /** Keep `text` (an update already applied) as `peer`'s; `null` forgets the peer's file. */
  save(peer: string, text: string | null, syncedAt = Date.now()): Promise<void> {
    this.#pending.set(peer, text === null ? null : { text, syncedAt });
    return this.#run(peer);
  }

  /** `peer`'s kept update is still current at `at`; nothing when a write or a removal is already waiting. */
  touch(peer: string, at: number): Promise<void> {
    const waiting = this.#pending.get(peer);
    if (waiting === null || (waiting !== undefined && 'text' in waiting)) return this.#writing.get(peer) ?? Promise.resolve();
    this.#pending.set(peer, { touchedAt: at });
    return this.#run(peer);
  }

  #run(peer: string): Promise<void> {
    let running = this.#writing.get(peer);
    if (running) return running;
    running = this.#drain(peer).finally(() => this.#writing.delete(peer));
    this.#writing.set(peer, running);
    return running;
  }

  async #drain(peer: string): Promise<void> {
    while (this.#pending.has(peer)) {
      const next = this.#pending.get(peer)!;
      this.#pending.delete(peer);
      try {
        if (next === null) {
          await rm(this.#file(peer), { force: true });
        } else if ('touchedAt' in next) {
          const seconds = next.touchedAt / 1000;
          // Gone (the peering removed meanwhile): nothing to say current.
          await utimes(this.#file(peer), seconds, seconds).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'ENOENT') throw err;
          });
        } else {
          await mkdir(this.dir, { recursive: true, mode: 0o700 });
          // The update is JSON already (it was parsed to be applied): no second serialization of up to 8 MiB.
          await writeFileAtomic(this.#file(peer), `{"syncedAt":${next.syncedAt},"exports":${next.text}}\n`);
        }
      } catch (err) {
        // Losing the copy costs only the restart case; the imports in memory are unaffected.
        this.#warn(`could not keep ${peer}'s imports in ${this.#file(peer)}: ${(err as Error).message}`);
      }
    }
  }

  /** Every write asked for so far is done (close, tests). */
  async flushed(): Promise<void> {
    await Promise.all([...this.#writing.values()]);
  }
}
