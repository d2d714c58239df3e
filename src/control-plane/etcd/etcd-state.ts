/**
 * A replica's view of everything under the mesh's prefix in etcd: read once
 * (paged, at one revision), then kept current by one watch. The store and
 * the registry are views over it, so a single ordered stream of changes feeds
 * both, and each write can wait until this replica has seen it (read your
 * writes) with `waitFor(revision)`.
 *
 * Reads never go to etcd: if etcd is unreachable, the last state keeps being
 * served while the watch reconnects. health() says when that is happening:
 * a linearizable read every second (it needs a quorum, so a member cut off
 * from its peers fails it) and the watch's state; once either has been bad
 * for `unhealthyAfterMs`, the replica reports itself unhealthy (503 on
 * /v1/health) and its watch streams are ended so that clients move to a
 * replica that can still see changes.
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

export interface EtcdStateOptions {
  /** Deadline of one etcd call (the client's). */
  requestTimeoutMs?: number;
  /** How long etcd may be unreachable (or the watch lost) before the replica says it is unhealthy. */
  unhealthyAfterMs?: number;
}

export interface EtcdHealth {
  ok: boolean;
  /** A linearizable read succeeded within unhealthyAfterMs. */
  reachable: boolean;
  watch: 'connected' | 'lost';
  /** host:port of the member the watch is on ('' while lost). */
  member: string;
  /** The last etcd revision applied here. */
  revision: number;
  /** Milliseconds since etcd last answered a linearizable read. */
  lastContactMs: number;
  /** Why it is not ok. */
  error?: string;
}

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
  /** When the watch was last lost (0 while connected). */
  #lostAt = 0;
  #lostWhy = '';
  #requestTimeoutMs: number;
  #unhealthyAfterMs: number;
  #probeOkAt = performance.now();
  #probeError = '';
  #probing = false;
  #checkTimer: NodeJS.Timeout | undefined;
  #healthy = true;
  #health = new Listeners<EtcdHealth>();

  constructor(client: Etcd3, prefix: string, log: EventLog, options: EtcdStateOptions = {}) {
    this.client = client;
    this.prefix = prefix;
    this.#prefix = Buffer.from(prefix);
    this.#end = rangeEnd(this.#prefix);
    this.#log = log;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 2_000;
    this.#unhealthyAfterMs = options.unhealthyAfterMs ?? Math.max(3_000, 3 * this.#requestTimeoutMs);
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
    if (this.#watch) return;
    this.#lostAt = performance.now();
    this.#lostWhy = 'not connected yet';
    const checkMs = Math.min(1_000, this.#unhealthyAfterMs / 3);
    this.#watch = new PrefixWatch(
      this.client,
      this.#prefix,
      this.#end,
      this.#revision,
      {
        events: (res) => this.#onEvents(res),
        compacted: (at) => this.#reload(at),
        status: (connected, why) => {
          if (connected === this.#connected) return;
          this.#connected = connected;
          this.#lostAt = connected ? 0 : performance.now();
          this.#lostWhy = why ?? '';
          this.#log(connected ? `etcd watch connected at revision ${this.#revision} via ${this.#watch?.member || 'etcd'}` : `etcd watch lost (${why}); serving the cached state while it reconnects`);
        },
      },
      { livenessMs: this.#requestTimeoutMs + checkMs },
    );
    this.#watch.start();
    this.#checkTimer = setInterval(() => this.#check(), checkMs);
    this.#checkTimer.unref();
  }

  /** Whether this replica can see etcd now, and why not. */
  health(now = performance.now()): EtcdHealth {
    const lastContactMs = Math.round(now - this.#probeOkAt);
    const reachable = lastContactMs < this.#unhealthyAfterMs;
    const watchOk = this.#connected || now - this.#lostAt < this.#unhealthyAfterMs;
    const ok = reachable && watchOk;
    const health: EtcdHealth = {
      ok,
      reachable,
      watch: this.#connected ? 'connected' : 'lost',
      member: this.#connected ? (this.#watch?.member ?? '') : '',
      revision: this.#revision,
      lastContactMs,
    };
    if (!reachable) health.error = `no linearizable read has succeeded for ${lastContactMs} ms: ${this.#probeError || 'no answer'}`;
    else if (!watchOk) health.error = `the etcd watch has been lost for ${Math.round(now - this.#lostAt)} ms: ${this.#lostWhy}`;
    return health;
  }

  /** Called when health() changes between ok and not ok. */
  onHealth(listener: (health: EtcdHealth) => void): Disposer {
    return this.#health.on(listener);
  }

  #check(): void {
    this.#watch?.check();
    if (!this.#probing) {
      this.#probing = true;
      // Linearizable (etcd's default): answered only through a leader with a quorum behind it.
      this.client.kv
        .range({ key: this.#prefix, keys_only: true, limit: 1 })
        .then(
          () => {
            this.#probeOkAt = performance.now();
            this.#probeError = '';
          },
          (err: unknown) => {
            this.#probeError = err instanceof Error ? err.message : String(err);
          },
        )
        .finally(() => (this.#probing = false));
    }
    const health = this.health();
    if (health.ok === this.#healthy) return;
    this.#healthy = health.ok;
    this.#log(health.ok ? `etcd reachable again: healthy at revision ${health.revision}` : `etcd unhealthy: ${health.error}`);
    try {
      this.#health.emit(health);
    } catch (err) {
      this.#log(`error reporting etcd health: ${(err as Error)?.message ?? String(err)}`);
    }
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
    clearInterval(this.#checkTimer);
    this.#health.clear();
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
