/**
 * After a restart, a control plane on the file store has forgotten every
 * instance (the registry lives in memory on purpose, see memory-registry.ts):
 * instances come back as their next heartbeat is answered 404 and they
 * register again — within a third of their lease TTL. Until then, the snapshot
 * of a service that had instances would say "no instances" (or "unknown
 * service"), and every client reconnecting its watch stream would drop its
 * endpoints and fail its calls.
 *
 * So for one lease TTL after a restart, a snapshot of a service that had
 * instances before the restart and has none yet is HELD: not written to watch
 * streams. A client that knows the service keeps its last-known-good
 * endpoints; one that does not waits (its discovery timeout) instead of being
 * told the service does not exist. The first instance that registers again
 * releases the hold for its service (its snapshot goes out at once); at the
 * end of the window every held service is pushed as it is.
 *
 * Which services had instances is kept in `registry-seen.json` in the data
 * directory (a service is added the first time it is seen: one small write per
 * new service, none per registration or heartbeat). A first start has no such
 * file and holds nothing, so an unknown service is answered "not found" at
 * once as always.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { EventLog } from '../log.js';
import { writeFileAtomic } from '../../core/atomic-write.js';

export const RESTART_HOLD_FILE = 'registry-seen.json';
const FILE = RESTART_HOLD_FILE;

export class RestartHold {
  readonly file: string;
  /** Services (`namespace/name`) that had instances before this start and have none again yet. */
  #pending = new Set<string>();
  /** Every service ever seen with an instance (what the file holds). */
  #seen = new Set<string>();
  #until = 0;
  #timer: NodeJS.Timeout | undefined;
  #log: EventLog;
  #writing: Promise<void> = Promise.resolve();
  #dirty = false;
  #closed = false;

  private constructor(dataDir: string, log: EventLog) {
    this.file = path.join(dataDir, FILE);
    this.#log = log;
  }

  /** Read what the previous run saw; hold those services for `holdMs` (0: remember, but hold nothing). */
  static async open(dataDir: string, holdMs: number, log: EventLog): Promise<RestartHold> {
    const hold = new RestartHold(dataDir, log);
    let previous: string[] = [];
    try {
      const parsed = JSON.parse(await readFile(hold.file, 'utf8')) as { services?: unknown };
      if (Array.isArray(parsed.services)) previous = parsed.services.filter((s): s is string => typeof s === 'string');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log(`warn ${FILE} unreadable, nothing held: ${(err as Error).message}`);
    }
    for (const s of previous) hold.#seen.add(s);
    if (holdMs > 0 && previous.length > 0) {
      for (const s of previous) hold.#pending.add(s);
      hold.#until = performance.now() + holdMs;
      log(`restart: holding empty snapshots of ${previous.length} services for ${holdMs} ms while their instances register again`);
    }
    return hold;
  }

  /** Is this snapshot one to keep from watchers for now? */
  held(service: string, snapshot: { instances: readonly { cluster?: string }[] }): boolean {
    if (this.#pending.size === 0 || !this.#pending.has(service)) return false;
    // Only this cluster's own instances end the wait: instances imported from a peer (kept on disk, or
    // arriving as the link comes back) alone would move every caller's traffic to the other cluster
    // until the local instances had registered again.
    if (snapshot.instances.some((i) => i.cluster === undefined)) {
      this.#pending.delete(service);
      return false;
    }
    if (performance.now() >= this.#until) {
      this.#pending.clear();
      return false;
    }
    return true;
  }

  /** Call `release` once the window ends (the hub then pushes what it held). */
  onEnd(release: () => void): void {
    if (this.#pending.size === 0) return;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        const left = this.#pending.size;
        this.#pending.clear();
        if (left > 0) this.#log(`restart: hold over; ${left} services still have no instance`);
        release();
      },
      Math.max(0, this.#until - performance.now()),
    );
    this.#timer.unref();
  }

  /** A service has an instance now: remember it for the next restart. */
  sawInstance(service: string): void {
    if (this.#seen.has(service) || this.#closed) return;
    this.#seen.add(service);
    this.#save();
  }

  #save(): void {
    if (this.#dirty) return;
    this.#dirty = true;
    // Coalesced: a burst of new services (a mesh starting) is one write.
    this.#writing = this.#writing.then(async () => {
      this.#dirty = false;
      try {
        await writeFileAtomic(this.file, `${JSON.stringify({ services: [...this.#seen].sort() })}\n`);
      } catch (err) {
        this.#log(`warn could not write ${FILE}: ${(err as Error).message}`);
      }
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#writing;
  }
}
