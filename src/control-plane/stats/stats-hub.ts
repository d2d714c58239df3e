/**
 * The stats side of the control plane: the store of reports, the summary
 * built from it, and the live stream (SSE) the dashboard and `hyphae top`
 * follow. The stream pushes a fresh summary every `pushMs`, and at once when
 * the registry changes (an instance came or went), so a killed instance shows
 * without waiting for the next tick.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import { sanitize } from '../log.js';
import { SSE_HEADERS, sseEvent } from '../watch/sse.js';
import { StatsStore } from './stats-store.js';
import { buildSummary, type MeshSummary } from './summary.js';

export const DEFAULT_WINDOW_SECONDS = 10;
export const DEFAULT_PUSH_MS = 1_000;

interface Stream {
  res: ServerResponse;
  windowMs: number;
}

export interface StatsHubOptions {
  registry: Registry;
  store: Store;
  pushMs?: number;
  now?: () => number;
  /** The control plane's event log: a line when reports are dropped (at most one per DROP_LOG_MS). */
  log?: (message: string) => void;
}

/** Dropped reports are logged at most this often (a flooding reporter must not flood the log too). */
export const DROP_LOG_MS = 10_000;

export class StatsHub {
  readonly stats: StatsStore;
  #registry: Registry;
  #store: Store;
  #now: () => number;
  #streams = new Set<Stream>();
  #timer: NodeJS.Timeout;
  #pending: NodeJS.Immediate | undefined;
  #dispose: () => void;
  #closed = false;

  constructor(options: StatsHubOptions) {
    this.#registry = options.registry;
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    const log = options.log;
    let lastLog = -Infinity;
    let unlogged = 0;
    this.stats = new StatsStore({
      now: this.#now,
      onDrop: (reason, report) => {
        unlogged++;
        const now = this.#now();
        if (log === undefined || now - lastLog < DROP_LOG_MS) return;
        lastLog = now;
        const { 'reporter-full': reporterFull, 'store-full': storeFull } = this.stats.dropped;
        log(
          `stats: dropped ${unlogged} report(s) since the last line (${reason}, latest from ${sanitize(`${report.namespace}/${report.service ?? '-'}`)} reporter ${sanitize(report.reporter, 64)}); ` +
            `in all ${reporterFull} over a reporter's budget, ${storeFull} over the store's`,
        );
        unlogged = 0;
      },
    });
    this.#timer = setInterval(() => this.#pushAll(), options.pushMs ?? DEFAULT_PUSH_MS);
    this.#timer.unref();
    const soon = () => (this.#pending ??= setImmediate(() => this.#pushAll()));
    const offRegistry = this.#registry.onChange(soon);
    const offStore = this.#store.onChange(soon);
    this.#dispose = () => {
      offRegistry();
      offStore();
    };
  }

  summary(windowMs: number): MeshSummary {
    return buildSummary({ registry: this.#registry, store: this.#store, stats: this.stats, now: this.#now }, windowMs);
  }

  get streams(): number {
    return this.#streams.size;
  }

  /** Start an SSE stream of summaries on `res`. */
  open(req: IncomingMessage, res: ServerResponse, windowMs: number): void {
    if (this.#closed) {
      res.writeHead(503, { connection: 'close' }).end();
      return;
    }
    const stream: Stream = { res, windowMs };
    this.#streams.add(stream);
    res.on('close', () => this.#streams.delete(stream));
    req.socket.setKeepAlive(true, 30_000);
    res.writeHead(200, SSE_HEADERS);
    res.write(sseEvent('summary', this.summary(windowMs)));
  }

  #pushAll(): void {
    this.#pending = undefined;
    if (this.#streams.size === 0) return;
    // One summary per distinct window, however many streams follow it.
    const built = new Map<number, string>();
    for (const s of this.#streams) {
      let event = built.get(s.windowMs);
      if (event === undefined) built.set(s.windowMs, (event = sseEvent('summary', this.summary(s.windowMs))));
      if (s.res.destroyed || s.res.writableEnded) continue;
      // A reader that does not keep up gets dropped rather than buffered without bound.
      if (s.res.writableLength > 4 * 1024 * 1024) s.res.destroy();
      else s.res.write(event);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#pending) clearImmediate(this.#pending);
    this.#dispose();
    for (const s of this.#streams) s.res.end();
    this.#streams.clear();
  }
}
