/**
 * dc1's end of a peering: one watch stream to dc2's control plane (`GET /v1/peering/stream`), kept open
 * for as long as the peering exists. HTTPS verified against the roots the token carried (not the system
 * store, not our own bundle); this control plane's client certificate (./link-certificate.ts), asked for
 * again on every attempt so that a renewed one is used from the next reconnect; the peering secret as
 * bearer. A dropped stream is dialled again with
 * full-jitter backoff, round the token's addresses; a stream that says nothing for three of the peer's
 * heartbeats is taken for dead and cut (a half-open TCP connection never ends on its own).
 */
import { Agent, request } from 'undici';
import { fullJitter, sleep } from '../../core/backoff.js';
import { isMeshError } from '../../core/errors.js';
import type { EventLog } from '../log.js';
import { MAX_PEER_EVENT_BYTES } from './limits.js';
import type { ClientCertificate } from './link-certificate.js';
import type { DialedPeering } from './peering-store.js';
import { SseReader, type SseEvent } from './sse-reader.js';
import { peerCredential } from './token.js';

export type LinkState = 'connecting' | 'connected' | 'disconnected' | 'refused';

export interface PeerLinkOptions {
  peering: DialedPeering;
  /** This cluster's name: the credential names it. */
  self: string;
  /** One event of the stream; throwing cuts the link (what was imported stays). */
  onEvent(event: SseEvent): void;
  /**
   * The stream said something (an event or a heartbeat) after it had delivered an `exports` update: what
   * that update imported is still current at `at` (Date.now()), since the peer pushes every change on it.
   */
  onAlive?(at: number): void;
  log: EventLog;
  /** The certificate presented to the peer; without one, the peer refuses the link. */
  clientCertificate?: () => Promise<ClientCertificate>;
  backoff?: { baseMs: number; maxMs: number };
  /** Silence (ms) before the first heartbeat is known. */
  initialIdleMs?: number;
}

const DEFAULT_BACKOFF = { baseMs: 250, maxMs: 15_000 };
const CONNECT_TIMEOUT_MS = 10_000;

export class PeerLink {
  state: LinkState = 'connecting';
  /** Why the last attempt ended (operators read it in `hyphae cluster peers`). */
  lastError: string | undefined;
  #opts: PeerLinkOptions;
  #closed = new AbortController();
  #attempt: AbortController | undefined;
  #running: Promise<void>;

  constructor(opts: PeerLinkOptions) {
    this.#opts = opts;
    this.#running = this.#loop();
  }

  async #loop(): Promise<void> {
    const { peering, log } = this.#opts;
    const backoff = this.#opts.backoff ?? DEFAULT_BACKOFF;
    let failures = 0;
    for (let n = 0; !this.#closed.signal.aborted; n++) {
      const address = peering.addresses[n % peering.addresses.length]!;
      const reachedHello = await this.#once(address);
      if (this.#closed.signal.aborted) break;
      failures = reachedHello ? 0 : failures + 1;
      if (this.state !== 'refused') this.state = 'disconnected';
      const wait = 100 + fullJitter(failures, backoff);
      log(`peering ${peering.peer} link down (${this.lastError ?? 'closed'}); again in ${wait} ms`);
      await sleep(wait, this.#closed.signal).catch(() => {});
    }
  }

  /** One stream, to its end; true when it got as far as the hello. */
  async #once(address: string): Promise<boolean> {
    const { peering, self } = this.#opts;
    const attempt = new AbortController();
    this.#attempt = attempt;
    let helloSeen = false;
    /** This stream delivered an update: until then, heartbeats say nothing of what an earlier one imported. */
    let synced = false;
    let agent: Agent | undefined;
    let idle: NodeJS.Timeout | undefined;
    let idleMs = this.#opts.initialIdleMs ?? 30_000;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => attempt.abort(new Error(`no event nor heartbeat for ${idleMs} ms`)), idleMs);
    };
    try {
      arm();
      const client = await this.#opts.clientCertificate?.();
      // One agent per attempt: its TLS options carry the certificate of this attempt.
      agent = new Agent({ connect: { ca: peering.ca, timeout: CONNECT_TIMEOUT_MS, ...client }, headersTimeout: CONNECT_TIMEOUT_MS, bodyTimeout: 0 });
      const res = await request(new URL('/v1/peering/stream', address), {
        method: 'GET',
        headers: { authorization: `Bearer ${peerCredential(self, peering.secret)}`, accept: 'text/event-stream' },
        dispatcher: agent,
        signal: attempt.signal,
      });
      if (res.statusCode !== 200) {
        const text = (await res.body.text().catch(() => '')).slice(0, 500);
        this.state = res.statusCode === 401 || res.statusCode === 403 ? 'refused' : 'disconnected';
        this.lastError = `${address} answered ${res.statusCode}: ${messageOf(text)}`;
        return false;
      }
      const reader = new SseReader(MAX_PEER_EVENT_BYTES);
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        arm();
        for (const event of reader.push(chunk)) {
          if (event.event === 'hello') {
            helloSeen = true;
            this.state = 'connected';
            this.lastError = undefined;
            const hb = (JSON.parse(event.data) as { heartbeatMs?: unknown }).heartbeatMs;
            if (typeof hb === 'number' && hb > 0) idleMs = Math.min(Math.max(3 * hb, 1000), 300_000);
            arm();
            this.#opts.log(`peering ${peering.peer} link up ${address}`);
          }
          this.#opts.onEvent(event);
          if (event.event === 'exports') synced = true;
        }
        if (synced) this.#opts.onAlive?.(Date.now());
      }
      this.lastError = 'the peer ended the stream';
    } catch (err) {
      const reason = attempt.signal.aborted ? attempt.signal.reason : err;
      this.lastError = isMeshError(reason) || reason instanceof Error ? (reason as Error).message : String(reason);
    } finally {
      clearTimeout(idle);
      attempt.abort();
      await agent?.destroy().catch(() => {});
    }
    return helloSeen;
  }

  async close(): Promise<void> {
    this.#closed.abort();
    this.#attempt?.abort();
    await this.#running;
  }
}

/** The message of an API error body, else the text itself. */
function messageOf(text: string): string {
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof m === 'string') return m;
  } catch {
    // not JSON: say what came
  }
  return text || '(no body)';
}
