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
 *
 * A stream can also go quiet without breaking: a member that lost quorum
 * keeps it open and sends nothing (etcd has no leader to commit anything),
 * and a frozen or partitioned member answers nothing at all until TCP
 * keep-alive gives up. So the stream is opened with etcd's "require leader"
 * metadata (clientv3's WithRequireLeader: etcd cancels it once its member has
 * had no leader for a few election timeouts), and check() asks the member
 * for progress: no answer within the deadline ends the stream, and the next
 * one prefers other members.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { Etcd3, IDuplexStream, IWatchRequest, IWatchResponse } from 'etcd3';
import { fullJitter, sleep } from '../../core/backoff.js';

export interface WatchHandlers {
  /** Events of one response, in revision order (header.revision may be ahead of them while etcd catches up). */
  events(res: IWatchResponse): void;
  /** The next revision to watch from was compacted: reload, and answer the revision to resume after. */
  compacted(compactRevision: number): Promise<number>;
  /** Connection state changes, for the log. */
  status(connected: boolean, why?: string): void;
}

export interface PrefixWatchOptions {
  /** A stream that answers neither its create nor a progress request within this is abandoned. */
  livenessMs: number;
}

type WatchStream = IDuplexStream<IWatchRequest, IWatchResponse>;

/**
 * The parts of etcd3's connection pool used to open the stream on a chosen
 * member with our own metadata (etcd3 has no option for either). Looked up
 * at run time; without them the stream opens the plain way.
 */
interface PoolHost {
  host: string;
}
interface Pool {
  hosts: PoolHost[];
  withConnection<T>(service: 'Watch', fn: (c: { resource: PoolHost; client: { watch(md: Metadata, opts: object): WatchStream }; metadata: Metadata }) => T, order: Generator<PoolHost>): Promise<T>;
  markFailed(resource: PoolHost, err: Error): void;
}

/** How long a member that left a stream hanging is tried last. */
const SUSPECT_MS = 10_000;

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
  #livenessMs: number;
  /** The member the current stream is on ('' when unknown). */
  #member = '';
  /** When the open stream last sent anything, and when we last asked it for progress (0: not waiting). */
  #openedAt = 0;
  #heardAt = 0;
  #askedAt = 0;
  #write: ((req: IWatchRequest) => void) | undefined;
  #suspects = new Map<string, number>();

  constructor(client: Etcd3, key: Buffer, end: Buffer, afterRevision: number, handlers: WatchHandlers, options: PrefixWatchOptions) {
    this.#client = client;
    this.#key = key;
    this.#end = end;
    this.#next = afterRevision + 1;
    this.#handlers = handlers;
    this.#livenessMs = options.livenessMs;
  }

  /** host:port of the etcd member the stream is on, '' when none or unknown. */
  get member(): string {
    return this.#member;
  }

  /**
   * Called periodically: ask the member for progress (it answers at once
   * when it is alive, even with nothing to send), and give up on a stream
   * whose last question, or whose create, went unanswered for too long.
   */
  check(now = performance.now()): void {
    if (!this.#write) return;
    const waitingSince = this.#askedAt || (this.#heardAt === 0 ? this.#openedAt : 0);
    if (waitingSince > 0 && now - waitingSince > this.#livenessMs) {
      if (this.#member) this.#suspects.set(this.#member, now + SUSPECT_MS);
      this.reconnect(`etcd member ${this.#member || '(unknown)'} did not answer within ${this.#livenessMs} ms`);
      return;
    }
    if (this.#askedAt === 0 && this.#heardAt > 0) {
      this.#askedAt = now;
      this.#write({ progress_request: {} });
    }
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
    const stream = await this.#open();
    this.#ending = undefined;
    this.#cancel = () => stream.cancel();
    this.#openedAt = performance.now();
    this.#heardAt = 0;
    this.#askedAt = 0;
    this.#write = (req) => stream.write(req);
    if (this.#abort.signal.aborted) {
      stream.cancel();
      return 'closed';
    }
    stream.write({ create_request: { key: this.#key, range_end: this.#end, start_revision: this.#next, progress_notify: true } });
    try {
      for await (const res of stream as unknown as AsyncIterable<IWatchResponse>) {
        this.#heardAt = performance.now();
        this.#askedAt = 0;
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
      this.#write = undefined;
      this.#member = '';
      stream.cancel();
    }
  }

  /** A watch stream with "require leader", on a member not recently found hanging if there is one. */
  async #open(): Promise<WatchStream> {
    const pool = (this.#client as unknown as { pool?: Partial<Pool> }).pool;
    if (!pool || !Array.isArray(pool.hosts) || typeof pool.withConnection !== 'function' || typeof pool.markFailed !== 'function') {
      return this.#client.watchClient.watch();
    }
    const { hosts } = pool as Pool;
    const now = performance.now();
    const fresh = shuffle(hosts.filter((h) => (this.#suspects.get(h.host) ?? 0) < now));
    const suspects = hosts.filter((h) => (this.#suspects.get(h.host) ?? 0) >= now);
    function* order(): Generator<PoolHost> {
      for (;;) yield* [...fresh, ...suspects];
    }
    return (pool as Pool).withConnection(
      'Watch',
      ({ resource, client, metadata }) => {
        const md = metadata.clone();
        md.set('hasleader', 'true');
        const stream = client.watch(md, {});
        this.#member = resource.host;
        stream.on('error', (err: Error) => (stream as unknown as { writable: boolean }).writable && (pool as Pool).markFailed(resource, err));
        return stream;
      },
      order(),
    );
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

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
