/**
 * One etcd watch on a key range, kept open for the life of the control plane.
 *
 * Written on the raw gRPC stream rather than etcd3's Watcher because the
 * cache needs three things that one does not promise: resume from exactly the
 * revision after the last one applied (not "last header + 1", which can skip
 * events if the stream breaks between the create answer and the replay),
 * a clear signal when that revision has been compacted away (so the cache
 * can reload), and events grouped per revision (one transaction = one
 * change). A broken stream reconnects with backoff through the client's
 * endpoint list, so a dead etcd member costs a reconnect, not the watch.
 */
import type { Etcd3, IWatchResponse } from 'etcd3';
import { fullJitter, sleep } from '../../core/backoff.js';

export interface WatchHandlers {
  /** Events of one response, in revision order (header.revision may be ahead of them while etcd catches up). */
  events(res: IWatchResponse): void;
  /** The next revision to watch from was compacted: reload, and answer the revision to resume after. */
  compacted(compactRevision: number): Promise<number>;
  /** Connection state changes, for the log. */
  status(connected: boolean, why?: string): void;
}

export class PrefixWatch {
  #client: Etcd3;
  #key: Buffer;
  #end: Buffer;
  #handlers: WatchHandlers;
  /** The next revision we need: one past the last revision applied. */
  #next: number;
  #abort = new AbortController();
  #cancel: (() => void) | undefined;
  /** Why the current stream was ended from this side (reconnect()), reported instead of "stream ended". */
  #ending: string | undefined;
  #loop: Promise<void> | undefined;

  constructor(client: Etcd3, key: Buffer, end: Buffer, afterRevision: number, handlers: WatchHandlers) {
    this.#client = client;
    this.#key = key;
    this.#end = end;
    this.#next = afterRevision + 1;
    this.#handlers = handlers;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#abort.signal.aborted) {
      let why: string;
      try {
        why = await this.#once(() => (failures = 0));
      } catch (err) {
        why = err instanceof Error ? err.message : String(err);
      }
      if (this.#abort.signal.aborted) return;
      this.#handlers.status(false, why);
      try {
        await sleep(fullJitter(failures++, { baseMs: 50, maxMs: 2_000 }), this.#abort.signal);
      } catch {
        return;
      }
    }
  }

  /** One stream, until it breaks; resolves with why it ended. */
  async #once(onCreated: () => void): Promise<string> {
    const stream = await this.#client.watchClient.watch();
    this.#ending = undefined;
    this.#cancel = () => stream.cancel();
    if (this.#abort.signal.aborted) {
      stream.cancel();
      return 'closed';
    }
    stream.write({ create_request: { key: this.#key, range_end: this.#end, start_revision: this.#next, progress_notify: true } });
    try {
      for await (const res of stream as unknown as AsyncIterable<IWatchResponse>) {
        if (res.canceled) {
          const compact = Number(res.compact_revision);
          if (compact > 0) {
            // Our resume point is gone from etcd's history: take a fresh snapshot, then follow from there.
            this.#next = (await this.#handlers.compacted(compact)) + 1;
            return `revision compacted at ${compact}; reloaded`;
          }
          return `watch canceled by etcd: ${res.cancel_reason || 'no reason given'}`;
        }
        if (res.created) {
          onCreated();
          this.#handlers.status(true);
          continue;
        }
        // watch_id -1 is a progress answer for the whole stream; etcd 3.4 may send it ahead of pending events, so it never moves #next.
        if (res.watch_id === '-1') continue;
        const last = res.events.at(-1);
        if (last) {
          this.#handlers.events(res);
          // While etcd replays history (an unsynced watcher) it sends at most 1000 revisions per response but
          // labels each with its current revision: only the last event says how far this stream has delivered.
          this.#next = Math.max(this.#next, Number(last.kv.mod_revision) + 1);
        } else {
          // An event-less answer to this watch (a progress notification) is sent only once it is synced.
          this.#next = Math.max(this.#next, Number(res.header.revision) + 1);
        }
      }
      return this.#ending ?? 'watch stream ended';
    } catch (err) {
      if (this.#ending) return this.#ending;
      throw err;
    } finally {
      this.#cancel = undefined;
      stream.cancel();
    }
  }

  /** End the current stream and open another from the next revision needed (a stuck stream, a member gone bad). */
  reconnect(why: string): void {
    if (!this.#cancel) return;
    this.#ending = why;
    this.#cancel();
  }

  async close(): Promise<void> {
    this.#abort.abort();
    this.#cancel?.();
    await this.#loop?.catch(() => {});
  }
}
