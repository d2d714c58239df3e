/**
 * The tap point of the wrapped servers (issue 19, `hyphae tap`): while the control plane says a tap is on
 * for this service, requests are sampled (method, normalized path without its query, status, latency,
 * verified caller, route, instance) and sent to it in batches; otherwise the layer is one property read.
 *
 * Bounds held here, at the source, whatever the control plane asks: each tap takes at most `maxRps`
 * samples a second (a token bucket, one second of burst), holds at most two batches waiting to be sent,
 * has one batch in flight, and ends by itself when its announcement is not repeated within its lease.
 * What had to be left out is counted and reported with the next batch.
 *
 * One TapPoint per mesh (every wrapped server of a process serves the same service). It knows nothing of
 * the control plane: the mesh gives it a TapSink (src/server may not import discovery).
 */
import type http from 'node:http';
import { MAX_TAP_BATCH, MAX_TAP_PATH, TAP_FLUSH_MS, type TapBatch, type TapSample, type TapSpec } from '../config/tap.js';
import { pathOnly } from '../telemetry/access-log.js';
import { serverRoute } from '../telemetry/server-request.js';
import { getPeer } from './peer.js';

/** `gone`: the control plane has no such tap (it ended): stop it here at once. */
export type TapOutcome = 'ok' | 'gone' | 'failed';

export interface TapSink {
  send(tapId: string, batch: TapBatch): Promise<TapOutcome>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Batches an instance holds per tap while one is being sent. */
const MAX_BUFFERED = MAX_TAP_BATCH * 2;

class TapSession {
  spec: TapSpec;
  expiresAt: number;
  #tokens: number;
  #refilledAt: number;
  buffer: TapSample[] = [];
  dropped = 0;
  sending = false;

  constructor(spec: TapSpec, now: number) {
    this.spec = spec;
    this.expiresAt = now + spec.leaseMs;
    this.#tokens = spec.maxRps;
    this.#refilledAt = now;
  }

  renew(spec: TapSpec, now: number): void {
    this.spec = spec;
    this.expiresAt = now + spec.leaseMs;
  }

  wants(method: string | undefined): boolean {
    return this.spec.method === undefined || this.spec.method === method;
  }

  /** The path filter, then the rate cap: a request the tap does not want takes nothing from the bucket. */
  offer(method: string | undefined, path: string, now: number): boolean {
    if (!this.wants(method)) return false;
    const prefix = this.spec.pathPrefix;
    if (prefix !== undefined && !path.startsWith(prefix)) return false;
    const rate = this.spec.maxRps;
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#refilledAt) * rate) / 1000);
    this.#refilledAt = now;
    if (this.#tokens < 1 || this.buffer.length >= MAX_BUFFERED) {
      this.dropped++;
      return false;
    }
    this.#tokens -= 1;
    return true;
  }
}

/** What a tapped request carries from its start to its 'close' (one object, only while a tap is on). */
interface Pending {
  point: TapPoint;
  start: number;
  instance: string;
}

const kTap = Symbol('hyphae.tap');
type Tapped = http.IncomingMessage & { [kTap]?: Pending };

/** The 'close' listener of every tapped response: one shared function, no closure per request. */
function onTappedClose(this: http.ServerResponse): void {
  const req = this.req as Tapped | undefined;
  const pending = req?.[kTap];
  if (pending === undefined) return;
  req![kTap] = undefined;
  pending.point.record(req!, this, pending);
}

export class TapPoint {
  /** The taps on now; undefined when none, which is all a request checks. */
  sessions: TapSession[] | undefined = undefined;
  #sink: TapSink;
  #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(sink: TapSink, now: () => number = () => performance.now()) {
    this.#sink = sink;
    this.#now = now;
  }

  /** The control plane's whole list for this service: taps not in it end now, new ones start, the others are renewed. */
  apply(taps: readonly TapSpec[]): void {
    if (this.#closed) return;
    const now = this.#now();
    const old = new Map((this.sessions ?? []).map((s) => [s.spec.id, s]));
    const next: TapSession[] = [];
    for (const spec of taps) {
      const s = old.get(spec.id);
      if (s) s.renew(spec, now);
      next.push(s ?? new TapSession(spec, now));
    }
    this.#set(next);
  }

  /** A request came in: remember its start if some tap may want it (its path is read at the end, normalized). */
  begin(req: http.IncomingMessage, res: http.ServerResponse, instance: string): void {
    const sessions = this.sessions;
    if (sessions === undefined || !sessions.some((s) => s.wants(req.method))) return;
    (req as Tapped)[kTap] = { point: this, start: this.#now(), instance };
    res.once('close', onTappedClose);
  }

  /** The response is done (or its connection closed first: status 0). */
  record(req: http.IncomingMessage, res: http.ServerResponse, pending: Pending): void {
    const sessions = this.sessions;
    if (sessions === undefined) return;
    const now = this.#now();
    const path = capped(pathOnly(req.url));
    let sample: TapSample | undefined;
    for (const s of sessions) {
      if (!s.offer(req.method, path, now)) continue;
      sample ??= this.#sample(req, res, pending, path, now);
      s.buffer.push(sample);
    }
  }

  #sample(req: http.IncomingMessage, res: http.ServerResponse, pending: Pending, path: string, now: number): TapSample {
    const sample: TapSample = {
      t: Math.round(performance.timeOrigin + pending.start),
      method: (req.method ?? 'GET').slice(0, 32),
      path,
      status: res.writableFinished ? res.statusCode : 0,
      latencyMs: Math.round((now - pending.start) * 1000) / 1000,
      instance: pending.instance,
    };
    const peer = getPeer(req);
    if (peer) sample.src = peer.id;
    const route = serverRoute(req);
    if (route !== undefined) sample.route = capped(route);
    return sample;
  }

  #set(sessions: TapSession[]): void {
    this.sessions = sessions.length > 0 ? sessions : undefined;
    if (this.sessions !== undefined && this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), TAP_FLUSH_MS);
      // Tapping must never keep a process alive.
      this.#timer.unref();
    } else if (this.sessions === undefined && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #tick(): void {
    const now = this.#now();
    const sessions = this.sessions ?? [];
    const live = sessions.filter((s) => s.expiresAt > now);
    if (live.length !== sessions.length) this.#set(live);
    for (const s of live) this.#flush(s);
  }

  #flush(s: TapSession): void {
    if (s.sending || (s.buffer.length === 0 && s.dropped === 0)) return;
    const batch: TapBatch = { samples: s.buffer.splice(0, MAX_TAP_BATCH), dropped: s.dropped };
    s.dropped = 0;
    s.sending = true;
    this.#sink.send(s.spec.id, batch).then(
      (outcome) => {
        s.sending = false;
        // The control plane no longer has it (the CLI went away): stop now rather than at the lease's end.
        if (outcome === 'gone') this.#set((this.sessions ?? []).filter((x) => x !== s));
      },
      () => {
        // A sink never rejects by contract; should it, the batch is lost and the next one goes on.
        s.sending = false;
      },
    );
  }

  close(): void {
    this.#closed = true;
    this.#set([]);
  }
}

/** The inbound layer: one property read per request while nothing taps. */
export function tapLayer(point: TapPoint, instance: (req: http.IncomingMessage) => string): (next: Handler) => Handler {
  return (next) => (req, res) => {
    if (point.sessions !== undefined) point.begin(req, res, instance(req));
    next(req, res);
  };
}

function capped(text: string): string {
  return text.length > MAX_TAP_PATH ? text.slice(0, MAX_TAP_PATH) : text;
}
