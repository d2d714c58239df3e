/**
 * `hyphae tap` at the control plane (issue 19). A tap is an SSE stream to one admin; while it is open,
 * the instances of its service are told so on the watch streams they already hold (`event: tap`, the
 * service's whole list, repeated every third of the lease so that a lost "off" expires and a new
 * instance joins), and they post what they sample to `POST /v1/tap/<id>`, which is written on.
 *
 * What bounds it, whatever instances send or readers read:
 * - taps open at once: `maxTaps` in all, MAX_TAPS_PER_SERVICE per service (429);
 * - samples: the tap's `maxRps` (a token bucket with one second of burst, as the instances hold too),
 *   and `maxSamplesPerSecond` over every tap; what is over is counted and told to the reader as dropped;
 * - a reader that does not read: past `maxBufferedBytes` unread, samples are dropped rather than queued,
 *   so memory stays bounded by that per tap;
 * - time: a tap ends at its duration (at most MAX_TAP_DURATION_MS), and with its reader.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { MAX_TAPS_PER_SERVICE, TAP_LEASE_MS, type TapEvent, type TapSample, type TapSpec } from '../../config/tap.js';
import { ErrorCode } from '../../core/errors.js';
import { requireIdentity } from '../auth/authorize.js';
import type { Principal } from '../auth/principal.js';
import { HttpError, notFound } from '../http/http-error.js';
import { shortId, type EventLog } from '../log.js';
import { SSE_HEADERS, SSE_PING, sseEvent } from '../watch/sse.js';

export interface TapRequest {
  maxRps: number;
  durationMs: number;
  pathPrefix?: string | undefined;
  method?: string | undefined;
}

export interface TapHubOptions {
  /** Writes an event to the watch streams of `service`'s instances (WatchHub.sendToInstances); returns how many. */
  announce(service: string, event: string): number;
  log: EventLog;
  maxTaps?: number;
  maxSamplesPerSecond?: number;
  maxBufferedBytes?: number;
  /** Comment lines to every reader this often, so that idle taps survive proxies. */
  pingMs?: number;
  now?: () => number;
}

export const DEFAULT_MAX_TAPS = 16;
export const DEFAULT_MAX_TAP_SAMPLES_PER_SECOND = 5_000;
export const DEFAULT_TAP_BUFFERED_BYTES = 256 * 1024;

/** A token bucket with one second of burst: the same rule the instances apply. */
class Bucket {
  #rate: number;
  #tokens: number;
  #at: number;
  constructor(rate: number, now: number) {
    this.#rate = rate;
    this.#tokens = rate;
    this.#at = now;
  }
  take(now: number): boolean {
    this.#tokens = Math.min(this.#rate, this.#tokens + ((now - this.#at) * this.#rate) / 1000);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

interface Tap {
  id: string;
  service: string;
  spec: TapSpec;
  res: ServerResponse;
  endsAt: number;
  bucket: Bucket;
  /** Samples left out since the last `dropped` event: at the instances (their report), here (caps, slow reader). */
  droppedAtInstances: number;
  droppedHere: number;
  sent: number;
  lastPing: number;
}

export class TapHub {
  #taps = new Map<string, Tap>();
  #options: TapHubOptions;
  #maxTaps: number;
  #maxBuffered: number;
  #pingMs: number;
  #now: () => number;
  #global: Bucket;
  #tick: NodeJS.Timeout | undefined;
  #lastAnnounce = 0;
  #closed = false;

  constructor(options: TapHubOptions) {
    this.#options = options;
    this.#maxTaps = options.maxTaps ?? DEFAULT_MAX_TAPS;
    this.#maxBuffered = options.maxBufferedBytes ?? DEFAULT_TAP_BUFFERED_BYTES;
    this.#pingMs = options.pingMs ?? 15_000;
    this.#now = options.now ?? (() => performance.now());
    this.#global = new Bucket(options.maxSamplesPerSecond ?? DEFAULT_MAX_TAP_SAMPLES_PER_SECOND, this.#now());
  }

  /** Taps open now (metrics, tests). */
  get size(): number {
    return this.#taps.size;
  }

  /** Start a tap of `service` (`namespace/name`) on `res`, or throw the 429 that says which cap it is over. */
  open(req: IncomingMessage, res: ServerResponse, service: string, request: TapRequest): void {
    if (this.#closed) {
      res.writeHead(503, { connection: 'close' }).end();
      return;
    }
    if (this.#taps.size >= this.#maxTaps) {
      throw new HttpError(429, ErrorCode.TOO_MANY_STREAMS, `the control plane already serves ${this.#taps.size} taps, the most it will; end one first`);
    }
    const onService = [...this.#taps.values()].filter((t) => t.service === service).length;
    if (onService >= MAX_TAPS_PER_SERVICE) {
      throw new HttpError(429, ErrorCode.TOO_MANY_STREAMS, `${service} already has ${onService} taps open, the most one service may; end one first`);
    }
    const now = this.#now();
    const id = randomBytes(12).toString('base64url');
    const spec: TapSpec = { id, maxRps: request.maxRps, leaseMs: TAP_LEASE_MS };
    if (request.pathPrefix !== undefined) spec.pathPrefix = request.pathPrefix;
    if (request.method !== undefined) spec.method = request.method;
    const tap: Tap = { id, service, spec, res, endsAt: now + request.durationMs, bucket: new Bucket(request.maxRps, now), droppedAtInstances: 0, droppedHere: 0, sent: 0, lastPing: now };
    this.#taps.set(id, tap);
    res.on('close', () => this.#end(tap, 'reader left'));
    req.socket.setKeepAlive(true, 30_000);
    res.writeHead(200, SSE_HEADERS);
    const instances = this.#announce(service);
    res.write(sseEvent('tap', { id, service, maxRps: request.maxRps, durationMs: request.durationMs, pathPrefix: request.pathPrefix, method: request.method, instances }));
    this.#options.log(`tap open id=${shortId(id)} service=${service} max-rps=${request.maxRps} duration=${request.durationMs}ms instances=${instances}`);
    this.#tick ??= setInterval(() => this.#onTick(), 1000);
    this.#tick.unref();
  }

  /**
   * A batch from an instance. Throws 404 HYPHAE_ERR_TAP_NOT_FOUND for a tap that is not open here (the
   * instance stops), 403 for a token of another service.
   */
  receive(tapId: string, principal: Principal | undefined, samples: readonly TapSample[], dropped: number): void {
    const tap = this.#taps.get(tapId);
    if (tap === undefined) throw notFound(`tap ${tapId.slice(0, 8)}… is not open on this control plane (it ended, or its reader left)`, ErrorCode.TAP_NOT_FOUND);
    const [namespace, name] = tap.service.split('/') as [string, string];
    requireIdentity(principal, namespace, name, 'send tap samples for');
    tap.droppedAtInstances += dropped;
    const res = tap.res;
    if (res.destroyed || res.writableEnded) return;
    const now = this.#now();
    let out = '';
    for (const s of samples) {
      // A reader that does not keep up loses samples, never the control plane's memory.
      if (res.writableLength + out.length > this.#maxBuffered || !tap.bucket.take(now) || !this.#global.take(now)) {
        tap.droppedHere++;
        continue;
      }
      out += sseEvent('sample', s);
      tap.sent++;
    }
    if (out !== '') res.write(out);
  }

  /** Every second: taps past their duration end; dropped counts are told; instances hear the lists again every third of the lease. */
  #onTick(): void {
    const now = this.#now();
    for (const tap of [...this.#taps.values()]) {
      if (now >= tap.endsAt) {
        this.#finish(tap, 'duration reached');
        continue;
      }
      let out = '';
      if (tap.droppedAtInstances + tap.droppedHere > 0) {
        out += sseEvent('dropped', { atInstances: tap.droppedAtInstances, atControlPlane: tap.droppedHere });
        tap.droppedAtInstances = 0;
        tap.droppedHere = 0;
      } else if (now - tap.lastPing >= this.#pingMs) {
        out += SSE_PING;
      }
      if (out !== '') {
        tap.lastPing = now;
        // Bounded too: a small event a second, and the reader is dropped past the bound.
        if (tap.res.writableLength > this.#maxBuffered * 2) tap.res.destroy();
        else tap.res.write(out);
      }
    }
    if (now - this.#lastAnnounce >= TAP_LEASE_MS / 3) {
      this.#lastAnnounce = now;
      for (const service of new Set([...this.#taps.values()].map((t) => t.service))) this.#announce(service);
    }
  }

  #announce(service: string): number {
    const event: TapEvent = { service, taps: [...this.#taps.values()].filter((t) => t.service === service).map((t) => t.spec) };
    return this.#options.announce(service, sseEvent('tap', event));
  }

  /** The tap ends on our side: say why, then close the stream (its 'close' does the rest). */
  #finish(tap: Tap, reason: string): void {
    if (!tap.res.destroyed && !tap.res.writableEnded) tap.res.end(sseEvent('end', { reason }));
    this.#end(tap, reason);
  }

  #end(tap: Tap, why: string): void {
    if (this.#taps.get(tap.id) !== tap) return;
    this.#taps.delete(tap.id);
    // Off at once: the instances' lease would end it anyway, but a tap should stop when its reader does.
    this.#announce(tap.service);
    this.#options.log(`tap close id=${shortId(tap.id)} service=${tap.service} samples=${tap.sent} (${why})`);
    if (this.#taps.size === 0 && this.#tick !== undefined) {
      clearInterval(this.#tick);
      this.#tick = undefined;
    }
  }

  close(): void {
    this.#closed = true;
    for (const tap of [...this.#taps.values()]) this.#finish(tap, 'control plane closing');
  }
}
