/**
 * The stats side of the control plane: the store of reports, the summaries
 * built from it, and the live streams (SSE) the dashboard follows.
 *
 * A summary reads every report in its window, up to the store's 500 000
 * entries, so what a viewer can make the control plane compute is bounded:
 *
 * - windows are a fixed few (STATS_WINDOWS_SECONDS), and a window's summary
 *   is built once per tick, only while someone follows it, serialised once
 *   and written to every stream on it; a GET of the summary shares it too;
 * - a build runs in slices of a few milliseconds (./sliced.ts), so that the
 *   API, health probes first, answers between them; and while building takes
 *   more than a quarter of the time, ticks are spaced out to keep it there;
 * - streams are capped per token and in all.
 *
 * A stream is pushed a summary every `pushMs`, and soon after the registry or
 * the configuration changes (an instance came or went), so that a killed
 * instance shows without waiting for the next tick. A stream opened with a
 * join or viewer token ends when the token is revoked or expires, as watch
 * streams do.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode } from '../../core/errors.js';
import { describePrincipal, type Principal } from '../auth/principal.js';
import { HttpError } from '../http/http-error.js';
import { DEFAULT_MAX_STATS_STREAMS, DEFAULT_MAX_STATS_STREAMS_PER_TOKEN, HISTORY_STEP_MS } from '../options.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import { sanitize } from '../log.js';
import { SSE_HEADERS } from '../watch/sse.js';
import { jsonInSlices, runSliced } from './sliced.js';
import { StatsStore } from './stats-store.js';
import { summarySteps } from './summary.js';
import { historySample, StatsHistory } from './history.js';
import { ChangeLog } from './change-log.js';

export const DEFAULT_PUSH_MS = 1_000;

/** Dropped reports and refused streams are logged at most this often (a flood must not flood the log too). */
export const DROP_LOG_MS = 10_000;

/** A build gives the event loop back after this long (ms). */
const SLICE_MS = 5;
/** Building may take at most 1/BUILD_SHARE of the time; ticks are spaced out beyond. */
const BUILD_SHARE = 4;
/** After a change, a push no sooner than this after the previous one: a burst of registrations is one push. */
const CHANGE_PUSH_GAP_MS = 250;
/** A reader that lets this much pile up unread is dropped rather than buffered without bound. */
const MAX_UNREAD_BYTES = 4 * 1024 * 1024;

interface Stream {
  res: ServerResponse;
  windowMs: number;
  /** Whose cap it counts against: the token's id, or `admin`. */
  owner: string;
  /** The join or viewer token it was opened with (ended with it); undefined for the admin token. */
  tokenId: string | undefined;
}

/** A summary as built once for every reader of its window. */
interface Built {
  /** performance.now() when its build started. */
  at: number;
  /** What it was built from (see #version). */
  version: number;
  json: string;
  event: Buffer;
}

export interface StatsHubOptions {
  registry: Registry;
  store: Store;
  pushMs?: number;
  now?: () => number;
  /** The control plane's event log: a line when reports are dropped or streams refused (at most one each per DROP_LOG_MS). */
  log?: (message: string) => void;
  /** Streams one token (the admin token counts as one) may hold open. Default 8. */
  maxStreamsPerToken?: number;
  /** Streams open in all. Default 256. */
  maxStreams?: number;
  /** Whether the token a stream was opened with is still valid (not revoked, not expired); asked on every push. */
  tokenValid?: (tokenId: string) => boolean;
  /** The dashboard's history: one point per step (default 15 s). */
  historyStepMs?: number;
}

export class StatsHub {
  readonly stats: StatsStore;
  #registry: Registry;
  #store: Store;
  #now: () => number;
  #log: ((message: string) => void) | undefined;
  #pushMs: number;
  #maxStreamsPerToken: number;
  #maxStreams: number;
  #tokenValid: ((tokenId: string) => boolean) | undefined;
  #streams = new Set<Stream>();
  #byWindow = new Map<number, Set<Stream>>();
  #byOwner = new Map<string, number>();
  #built = new Map<number, Built>();
  #building = new Map<number, Promise<Built>>();
  /** Wall time of the last build, which paces rebuilds for readers (BUILD_SHARE). */
  #lastBuildMs = 0;
  /** The least time between two pushes: BUILD_SHARE times the last push's. */
  #pace = 0;
  /** Registry and configuration changes seen. */
  #changes = 0;
  #timer: NodeJS.Timeout | undefined;
  #timerDue = Infinity;
  #lastPush = -Infinity;
  #pushing = false;
  #changedWhilePushing = false;
  #refused = { count: 0, loggedAt: -Infinity };
  #dispose: () => void;
  #closed = false;
  readonly history = new StatsHistory();
  /** What changed lately (config written, instances come and gone), for the dashboard's drill-down. */
  readonly changes: ChangeLog;
  #historyStepMs: number;
  #historyTimer: NodeJS.Timeout;
  #sampling = false;

  constructor(options: StatsHubOptions) {
    this.#registry = options.registry;
    this.#store = options.store;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#pushMs = options.pushMs ?? DEFAULT_PUSH_MS;
    this.#maxStreamsPerToken = options.maxStreamsPerToken ?? DEFAULT_MAX_STATS_STREAMS_PER_TOKEN;
    this.#maxStreams = options.maxStreams ?? DEFAULT_MAX_STATS_STREAMS;
    this.#tokenValid = options.tokenValid;
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
    const changed = () => {
      this.#changes++;
      if (this.#pushing) this.#changedWhilePushing = true;
      else if (this.#streams.size > 0) this.#schedule(this.#lastPush + Math.max(CHANGE_PUSH_GAP_MS, this.#pace) - performance.now());
    };
    const offRegistry = this.#registry.onChange(changed);
    const offStore = this.#store.onChange(changed);
    this.#dispose = () => {
      offRegistry();
      offStore();
    };
    this.changes = new ChangeLog(this.#registry, this.#store, { now: this.#now });
    // Whether anyone looks or not: the history is what happened before the dashboard was opened.
    this.#historyStepMs = options.historyStepMs ?? HISTORY_STEP_MS;
    this.#historyTimer = setInterval(() => void this.#sample(), this.#historyStepMs);
    this.#historyTimer.unref();
  }

  /** The last points of every service and edge, as JSON (GET /v1/stats/history). */
  historyJson(): string {
    return JSON.stringify(this.history.view(this.#historyStepMs));
  }

  async #sample(): Promise<void> {
    // A step whose sample is still being built (a huge store on a slow machine) is skipped, not queued.
    if (this.#sampling || this.#closed) return;
    this.#sampling = true;
    try {
      const at = this.#now();
      const sample = await runSliced(historySample(this.stats, this.#historyStepMs), SLICE_MS);
      if (!this.#closed) this.history.record(at, sample);
    } catch (err) {
      this.#failed(err);
    } finally {
      this.#sampling = false;
    }
  }

  get streams(): number {
    return this.#streams.size;
  }

  /**
   * The summary of a window as JSON: the latest one while it is fresh enough (#maxAge), else one built now,
   * shared by every caller waiting for it.
   */
  async summaryJson(windowMs: number): Promise<string> {
    return (await this.#summary(windowMs, this.#maxAge(windowMs))).json;
  }

  /**
   * Start an SSE stream of summaries on `res`, or throw the 429 that says which cap it is over. The
   * caller has authenticated `principal`; undefined is an insecure control plane's anonymous caller.
   */
  open(req: IncomingMessage, res: ServerResponse, windowMs: number, principal: Principal | undefined): void {
    if (this.#closed) {
      res.writeHead(503, { connection: 'close' }).end();
      return;
    }
    const tokenId = principal === undefined || principal.kind === 'admin' ? undefined : principal.tokenId;
    const owner = tokenId ?? 'admin';
    const held = this.#byOwner.get(owner) ?? 0;
    if (held >= this.#maxStreamsPerToken) {
      throw this.#refuse(
        `${describePrincipal(principal ?? { kind: 'admin' })} already has ${held} stats streams open, the most one token may ` +
          `(--max-stats-streams-per-token ${this.#maxStreamsPerToken}); close one first`,
      );
    }
    if (this.#streams.size >= this.#maxStreams) {
      throw this.#refuse(`the control plane already serves ${this.#streams.size} stats streams, the most it will (--max-stats-streams ${this.#maxStreams}); try again later`);
    }
    const stream: Stream = { res, windowMs, owner, tokenId };
    this.#add(stream);
    res.on('close', () => this.#remove(stream));
    req.socket.setKeepAlive(true, 30_000);
    res.writeHead(200, SSE_HEADERS);
    // Its first summary at once: this tick's if there is one, else a build it shares with any other reader.
    this.#summary(windowMs, this.#maxAge(windowMs)).then(
      (built) => this.#write(stream, built.event),
      (err: unknown) => this.#failed(err),
    );
    // The first stream starts the ticks (a push under way schedules the next one itself).
    if (this.#timer === undefined && !this.#pushing) this.#schedule(this.#pushMs);
  }

  /** End every stream opened with `tokenId` (it was revoked); the client reconnects, and is refused. */
  closeToken(tokenId: string): number {
    let n = 0;
    for (const stream of [...this.#streams]) {
      if (stream.tokenId !== tokenId) continue;
      this.#end(stream);
      n++;
    }
    return n;
  }

  #refuse(message: string): HttpError {
    // The caller hears the reason; the log gets a line now and then, with the count since the last.
    this.#refused.count++;
    const now = this.#now();
    if (this.#log !== undefined && now - this.#refused.loggedAt >= DROP_LOG_MS) {
      this.#refused.loggedAt = now;
      this.#log(`stats: refused ${this.#refused.count} stream(s) since the last line (latest: ${message})`);
      this.#refused.count = 0;
    }
    return new HttpError(429, ErrorCode.TOO_MANY_STREAMS, message);
  }

  /**
   * How old a summary a reader (a GET, a new stream) may be given: up to a push period when nothing was
   * reported or registered since it was built; else a quarter of a second, or more while builds are slow
   * (a reader that loops must not make the control plane build back to back).
   */
  #maxAge(windowMs: number): number {
    const built = this.#built.get(windowMs);
    if (built !== undefined && built.version === this.#version()) return this.#pushMs;
    return Math.min(this.#pushMs, Math.max(CHANGE_PUSH_GAP_MS, BUILD_SHARE * this.#lastBuildMs));
  }

  /** What a summary is built from: grows with every report kept and every registry or configuration change. */
  #version(): number {
    return this.stats.version + this.#changes;
  }

  #summary(windowMs: number, maxAgeMs: number): Promise<Built> {
    const built = this.#built.get(windowMs);
    if (built !== undefined && performance.now() - built.at <= maxAgeMs) return Promise.resolve(built);
    let building = this.#building.get(windowMs);
    if (building === undefined) {
      building = this.#build(windowMs).finally(() => this.#building.delete(windowMs));
      this.#building.set(windowMs, building);
    }
    return building;
  }

  async #build(windowMs: number): Promise<Built> {
    const at = performance.now();
    const version = this.#version();
    const deps = { registry: this.#registry, store: this.#store, stats: this.stats, now: this.#now };
    const summary = await runSliced(summarySteps(deps, windowMs), SLICE_MS);
    const json = await runSliced(jsonInSlices(summary), SLICE_MS);
    const built: Built = { at, version, json, event: Buffer.from(`event: summary\ndata: ${json}\n\n`) };
    this.#lastBuildMs = performance.now() - at;
    this.#built.set(windowMs, built);
    return built;
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    const due = performance.now() + Math.max(0, delayMs);
    if (this.#timer !== undefined && this.#timerDue <= due) return;
    clearTimeout(this.#timer);
    this.#timerDue = due;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerDue = Infinity;
        void this.#pushAll();
      },
      Math.max(0, delayMs),
    );
    this.#timer.unref();
  }

  async #pushAll(): Promise<void> {
    if (this.#pushing || this.#closed) return;
    this.#pushing = true;
    this.#changedWhilePushing = false;
    const start = (this.#lastPush = performance.now());
    try {
      this.#endInvalid();
      // One window after the other: at most one build runs, whatever the number of windows followed.
      for (const windowMs of [...this.#byWindow.keys()]) {
        if (!this.#byWindow.get(windowMs)?.size) continue;
        const built = await this.#summary(windowMs, performance.now() - start);
        if (this.#closed) return;
        for (const stream of this.#byWindow.get(windowMs) ?? []) this.#write(stream, built.event);
      }
      // What nobody follows is not kept: a window's summary is megabytes on a big mesh.
      for (const windowMs of this.#built.keys()) if (!this.#byWindow.has(windowMs)) this.#built.delete(windowMs);
    } catch (err) {
      this.#failed(err);
    } finally {
      this.#pushing = false;
      this.#pace = BUILD_SHARE * (performance.now() - start);
      if (this.#streams.size > 0) {
        const next = this.#changedWhilePushing ? CHANGE_PUSH_GAP_MS : this.#pushMs;
        this.#schedule(start + Math.max(next, this.#pace) - performance.now());
      }
    }
  }

  #endInvalid(): void {
    const valid = this.#tokenValid;
    if (valid === undefined) return;
    for (const stream of [...this.#streams]) if (stream.tokenId !== undefined && !valid(stream.tokenId)) this.#end(stream);
  }

  #write(stream: Stream, event: Buffer): void {
    const { res } = stream;
    if (res.destroyed || res.writableEnded) return;
    if (res.writableLength > MAX_UNREAD_BYTES) res.destroy();
    else res.write(event);
  }

  #failed(err: unknown): void {
    this.#log?.(`error stats: summary failed: ${(err as Error)?.stack ?? String(err)}`);
  }

  #add(stream: Stream): void {
    this.#streams.add(stream);
    let streams = this.#byWindow.get(stream.windowMs);
    if (!streams) this.#byWindow.set(stream.windowMs, (streams = new Set()));
    streams.add(stream);
    this.#byOwner.set(stream.owner, (this.#byOwner.get(stream.owner) ?? 0) + 1);
  }

  #remove(stream: Stream): void {
    if (!this.#streams.delete(stream)) return;
    const streams = this.#byWindow.get(stream.windowMs);
    streams?.delete(stream);
    if (streams?.size === 0) this.#byWindow.delete(stream.windowMs);
    const held = (this.#byOwner.get(stream.owner) ?? 1) - 1;
    if (held > 0) this.#byOwner.set(stream.owner, held);
    else this.#byOwner.delete(stream.owner);
  }

  #end(stream: Stream): void {
    this.#remove(stream);
    stream.res.end();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#historyTimer);
    this.changes.close();
    this.#dispose();
    for (const stream of [...this.#streams]) this.#end(stream);
  }
}
