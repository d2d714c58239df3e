/**
 * Load shedding for wrapServer: when the process already serves
 * `maxConcurrent` requests, or its event loop lags more than
 * `eventLoopDelayMs` (p99 over the last sample interval, from
 * perf_hooks.monitorEventLoopDelay), a new request is answered at once with
 * 503, `Retry-After` and `x-hyphae-rejected: shed`, before the application
 * runs. Mesh clients read that header: the request was not processed, so they
 * retry it on another endpoint whatever its method, and do not hold the
 * refusal against this endpoint's health.
 *
 * Shedding early and cheaply keeps the requests already admitted fast (a
 * queue in front of a saturated process only adds latency to everyone).
 */
import type http from 'node:http';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { ErrorCode } from '../core/errors.js';
import { REFUSED_HEADER } from '../resilience/refusal.js';
import type { InboundFilter } from './stack.js';

export interface LoadSheddingOptions {
  /** Requests served at once before shedding; 0 or absent: no limit. */
  maxConcurrent?: number;
  /** Shed while the event loop's p99 delay over the last interval is above this (ms); 0 or absent: off. */
  eventLoopDelayMs?: number;
  /** How often the event-loop delay is sampled (ms). */
  sampleIntervalMs?: number;
  /** The Retry-After a shed response carries (seconds). */
  retryAfterSeconds?: number;
  /** Told about each shed request (for metrics: MeshTelemetry.recordShed). */
  onShed?: (reason: 'concurrency' | 'event-loop') => void;
}

export class LoadShedder {
  readonly filter: InboundFilter;
  readonly maxConcurrent: number;
  readonly eventLoopDelayMs: number;
  #inflight = 0;
  #shed = 0;
  #lagging = false;
  #lastDelayMs = 0;
  #histogram: IntervalHistogram | undefined;
  #sampler: NodeJS.Timeout | undefined;
  #sampleIntervalMs: number;

  constructor(options: LoadSheddingOptions = {}) {
    this.maxConcurrent = options.maxConcurrent ?? 0;
    this.eventLoopDelayMs = options.eventLoopDelayMs ?? 0;
    const retryAfter = String(options.retryAfterSeconds ?? 1);
    this.#sampleIntervalMs = options.sampleIntervalMs ?? 500;
    // One listener function for every response: no closure per request.
    const done = () => {
      this.#inflight--;
    };
    const body = JSON.stringify({ error: { code: ErrorCode.OVERLOADED, message: 'server overloaded: retry on another instance' } });
    const onShed = options.onShed;
    this.filter = (next) => (req, res) => {
      const full = this.maxConcurrent > 0 && this.#inflight >= this.maxConcurrent;
      if (full || this.#lagging) {
        this.#shed++;
        onShed?.(full ? 'concurrency' : 'event-loop');
        shed(res, retryAfter, body);
        return;
      }
      this.#inflight++;
      res.once('close', done);
      next(req, res);
    };
  }

  /** Requests being served now (admitted, response not yet closed). */
  get inflight(): number {
    return this.#inflight;
  }

  /** Requests shed since creation. */
  get shedCount(): number {
    return this.#shed;
  }

  /** True while the event loop lags past the threshold. */
  get lagging(): boolean {
    return this.#lagging;
  }

  /** p99 event-loop delay of the last sample interval (ms); 0 when not monitored. */
  get eventLoopDelay(): number {
    return this.#lastDelayMs;
  }

  #sample(): void {
    const h = this.#histogram;
    if (!h) return;
    this.#lastDelayMs = h.count > 0 ? h.percentile(99) / 1e6 : 0;
    h.reset();
    this.#lagging = this.#lastDelayMs > this.eventLoopDelayMs;
  }

  /** True while the event-loop monitor runs (between start() and close()). */
  get monitoring(): boolean {
    return this.#histogram !== undefined;
  }

  /**
   * Monitor the event loop (when eventLoopDelayMs is set). Not done at
   * construction: a shedder made for a server that never listens (or is
   * wrapped and dropped) would keep a histogram and a 500 ms timer for the
   * life of the process. wrapServer starts it on 'listening' and closes it on
   * 'close'; a shedder used on its own must be started.
   */
  start(): void {
    if (this.eventLoopDelayMs <= 0 || this.#histogram !== undefined) return;
    const h = (this.#histogram = monitorEventLoopDelay({ resolution: 10 }));
    h.enable();
    this.#sampler = setInterval(() => this.#sample(), this.#sampleIntervalMs);
    this.#sampler.unref();
  }

  /** Stop monitoring (the server closed): no timer, no histogram left behind. */
  async close(): Promise<void> {
    clearInterval(this.#sampler);
    this.#sampler = undefined;
    this.#histogram?.disable();
    this.#histogram = undefined;
    this.#lagging = false;
  }
}

function shed(res: http.ServerResponse, retryAfter: string, body: string): void {
  res.writeHead(503, {
    'retry-after': retryAfter,
    [REFUSED_HEADER]: 'shed',
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
