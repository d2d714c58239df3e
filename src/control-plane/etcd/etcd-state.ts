/**
 * A replica's view of everything under the mesh's prefix in etcd: read once
 * (paged, at one revision), then kept current by one watch. The store and
 * the registry are views over it, so a single ordered stream of changes feeds
 * both, and each write can wait until this replica has seen it (read your
 * writes) with `waitFor(revision)`.
 *
 * Reads never go to etcd: if etcd is unreachable, the last state keeps being
 * served while the watch reconnects.
 */
import type { Etcd3, IKeyValue, IWatchResponse } from 'etcd3';
import { Listeners, type Disposer } from '../../core/events.js';
import type { EventLog } from '../log.js';
import { PrefixWatch } from './prefix-watch.js';

export interface Entry {
  value: Buffer;
  modRevision: number;
  createRevision: number;
  /** etcd lease id (decimal), '0' when none. */
  lease: string;
}

export interface KeyChange {
  /** Relative to the prefix. */
  key: string;
  /** undefined for a delete. */
  entry: Entry | undefined;
  /** What the key held before, if anything. */
  previous: Entry | undefined;
}

/** Every change made at one etcd revision (one transaction, or one lease expiry). */
export interface Batch {
  revision: number;
  changes: KeyChange[];
}

/** Keys per page of the initial read: well under gRPC's message limit with registry-sized values. */
const PAGE = 1000;

export class EtcdState {
  readonly client: Etcd3;
  readonly prefix: string;
  #prefix: Buffer;
  #end: Buffer;
  #entries = new Map<string, Entry>();
  #revision = 0;
  #batches = new Listeners<Batch>();
  #waiters: { revision: number; resolve: (reached: boolean) => void }[] = [];
  #watch: PrefixWatch | undefined;
  #log: EventLog;
  #refs = 0;
  #connected = false;

  constructor(client: Etcd3, prefix: string, log: EventLog) {
    this.client = client;
    this.prefix = prefix;
    this.#prefix = Buffer.from(prefix);
    this.#end = rangeEnd(this.#prefix);
    this.#log = log;
  }

  /** The last etcd revision this replica has applied. */
  get revision(): number {
    return this.#revision;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Read everything under the prefix (views build from it, then subscribe, then follow() starts the watch). */
  async load(): Promise<void> {
    const { revision, entries } = await this.#readAll();
    this.#entries = entries;
    this.#revision = revision;
  }

  /** Follow changes from the revision load() read at. */
  follow(): void {
    this.#watch ??= new PrefixWatch(this.client, this.#prefix, this.#end, this.#revision, {
      events: (res) => this.#onEvents(res),
      compacted: (at) => this.#reload(at),
      status: (connected, why) => {
        if (connected === this.#connected) return;
        this.#connected = connected;
        this.#log(connected ? `etcd watch connected at revision ${this.#revision}` : `etcd watch lost (${why}); serving the cached state while it reconnects`);
      },
    });
    this.#watch.start();
  }

  /** Drop the watch stream and resume on a new one from the revision after the last applied. */
  reconnect(why: string): void {
    this.#watch?.reconnect(why);
  }

  get(key: string): Entry | undefined {
    return this.#entries.get(key);
  }

  /** Every entry whose key starts with `sub` (relative to the prefix). */
  *entries(sub: string): IterableIterator<[string, Entry]> {
    for (const [key, entry] of this.#entries) if (key.startsWith(sub)) yield [key, entry];
  }

  /** Called with every revision's changes, in order, after the state has moved to it. */
  onBatch(listener: (batch: Batch) => void): Disposer {
    return this.#batches.on(listener);
  }

  /** Resolves true once this replica has applied `revision` (a write's own revision), false after `timeoutMs`. */
  waitFor(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.#revision >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { revision, resolve };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      waiter.resolve = (reached) => {
        clearTimeout(timer);
        resolve(reached);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Absolute key (Buffer) of a relative one, for writes. */
  key(relative: string): Buffer {
    return Buffer.from(this.prefix + relative);
  }

  /** Views (store, registry) share one state; the last to let go closes it. */
  retain(): void {
    this.#refs++;
  }

  async release(): Promise<void> {
    if (--this.#refs > 0) return;
    await this.#watch?.close();
    for (const w of this.#waiters) w.resolve(false);
    this.#waiters = [];
    this.#batches.clear();
    this.client.close();
  }

  #onEvents(res: IWatchResponse): void {
    let batch: Batch | undefined;
    for (const ev of res.events) {
      const rev = Number(ev.kv.mod_revision);
      if (rev <= this.#revision) continue; // already applied (a replay after reconnect)
      if (batch && batch.revision !== rev) this.#emit(batch);
      if (!batch || batch.revision !== rev) batch = { revision: rev, changes: [] };
      const key = ev.kv.key.toString().slice(this.prefix.length);
      const previous = this.#entries.get(key);
      const entry = ev.type === 'Put' ? toEntry(ev.kv) : undefined;
      if (entry) this.#entries.set(key, entry);
      else this.#entries.delete(key);
      batch.changes.push({ key, entry, previous });
    }
    if (batch) this.#emit(batch);
    // Not header.revision: a watcher catching up gets at most 1000 revisions per response, each labelled with
    // etcd's current revision, so the header can run ahead of events still to come.
    const last = res.events.at(-1);
    if (last) this.#advance(Math.max(this.#revision, Number(last.kv.mod_revision)));
  }

  #emit(batch: Batch): void {
    this.#revision = batch.revision;
    try {
      this.#batches.emit(batch);
    } catch (err) {
      this.#log(`error applying etcd revision ${batch.revision}: ${(err as Error)?.stack ?? String(err)}`);
    }
    this.#advance(batch.revision);
  }

  #advance(revision: number): void {
    this.#revision = revision;
    if (this.#waiters.length === 0) return;
    const ready = this.#waiters.filter((w) => w.revision <= revision);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.revision > revision);
    for (const w of ready) w.resolve(true);
  }

  /** History was compacted past our position: read everything again and report the difference as one batch. */
  async #reload(compactRevision: number): Promise<number> {
    const { revision, entries } = await this.#readAll();
    const changes: KeyChange[] = [];
    for (const [key, previous] of this.#entries) if (!entries.has(key)) changes.push({ key, entry: undefined, previous });
    for (const [key, entry] of entries) {
      const previous = this.#entries.get(key);
      if (!previous || previous.modRevision !== entry.modRevision) changes.push({ key, entry, previous });
    }
    this.#entries = entries;
    this.#log(`etcd history compacted at ${compactRevision} past revision ${this.#revision}: reloaded at ${revision} (${changes.length} keys changed)`);
    if (changes.length > 0) this.#emit({ revision, changes });
    else this.#advance(revision);
    return revision;
  }

  /** Everything under the prefix at one revision, in pages. */
  async #readAll(): Promise<{ revision: number; entries: Map<string, Entry> }> {
    const entries = new Map<string, Entry>();
    let key = this.#prefix;
    let revision: number | undefined;
    for (;;) {
      const res = await this.client.kv.range({ key, range_end: this.#end, limit: PAGE, revision: revision ?? 0 });
      revision ??= Number(res.header.revision);
      for (const kv of res.kvs) entries.set(kv.key.toString().slice(this.prefix.length), toEntry(kv));
      if (!res.more || res.kvs.length === 0) break;
      key = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    return { revision, entries };
  }
}

function toEntry(kv: IKeyValue): Entry {
  return { value: kv.value, modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision), lease: kv.lease };
}

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix). */
function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
