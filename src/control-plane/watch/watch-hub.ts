/**
 * Watch streams (SSE). Each stream follows a set of services (and gateways,
 * keyed `Gateway/namespace/name`); when one changes, its snapshot is built and
 * serialised once and written to every stream that follows it.
 *
 * Changes are coalesced per event-loop turn (setImmediate), not per timer: a
 * burst of registrations (every instance re-registering after a restart)
 * becomes one snapshot per service, and a lone change is written within the
 * same millisecond. Streams that stop reading are dropped once their backlog
 * passes a bound (the client reconnects and gets full state), so one slow
 * watcher cannot grow memory without limit.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { isGatewayRef, type GatewaySnapshot, type ServiceSnapshot, type TrustBundle, type WatchHello } from '../../config/wire.js';
import { ErrorCode } from '../../core/errors.js';
import { cutForSendStall } from '../../core/send-stall.js';
import { HttpError } from '../http/http-error.js';
import { isPeerRef, peerOfRef } from '../peering/exports.js';
import { shortId, type EventLog } from '../log.js';
import { SSE_HEADERS, SSE_PING, sseEvent } from './sse.js';

export interface WatchHubOptions {
  heartbeatMs: number;
  /** Current state of a service, `namespace/name`. */
  snapshot(service: string): ServiceSnapshot;
  /** Current state of a gateway, `Gateway/namespace/name`. */
  gatewaySnapshot(key: string): GatewaySnapshot;
  /** What a peer cluster's stream (key `Peer/<peer>`, ../peering) is sent: the services exported to it; undefined while held. */
  peerSnapshot?: (peer: string) => unknown;
  /** The version counter, sent in the hello so a client knows where the stream starts. */
  revision(): number;
  /** The CA's trust bundle, sent right after the hello on every stream; undefined without a CA. */
  trustBundle?: () => TrustBundle | undefined;
  log: EventLog;
  /** Backlog (bytes) after which a stream that does not read is closed. */
  maxBufferedBytes?: number;
  /** A snapshot not to write for now (after a restart, see registry/restart-hold.ts); pushed by releaseHeld(). */
  held?: (service: string, snapshot: ServiceSnapshot) => boolean;
  /**
   * Whether the token a stream was opened with is still valid (not revoked, not expired); asked of every
   * token-bound stream on each heartbeat, so an expiry ends its streams within one heartbeat interval.
   */
  tokenValid?: (tokenId: string) => boolean;
  /** Told, for each service pushed, the seconds since the first change of the batch reached notify() (metrics). */
  pushed?: (seconds: number) => void;
  /** Streams one join or viewer token may hold open (the admin token and an insecure caller: no cap). Default: none. */
  maxStreamsPerToken?: number;
}

interface Stream {
  id: string;
  res: ServerResponse;
  services: Set<string>;
  openedAt: number;
  /**
   * The join (or viewer) token the stream was opened with; undefined for the admin token or an insecure
   * control plane. A stream outlives its request's authentication, so it is ended when the token goes.
   */
  tokenId: string | undefined;
  /** A join token's service (`namespace/name`): whom a tap event may reach. Undefined: the admin token, or insecure. */
  identity: string | undefined;
}

export class WatchHub {
  #streams = new Map<string, Stream>();
  /** service -> streams following it: a change touches only its own watchers. */
  #followers = new Map<string, Set<Stream>>();
  #dirty = new Set<string>();
  #flush: NodeJS.Immediate | undefined;
  /** performance.now() of the first notify() of the batch #flush will push. */
  #dirtySince = 0;
  #ping: NodeJS.Timeout;
  #options: WatchHubOptions;
  #maxBuffered: number;
  #closed = false;
  /** Services whose snapshot was held back from some stream. */
  #heldServices = new Set<string>();
  /** Open streams per token (token-bound streams only). */
  #byToken = new Map<string, number>();

  constructor(options: WatchHubOptions) {
    this.#options = options;
    this.#maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
    // One timer for every stream: its cost does not grow with the number of watchers.
    this.#ping = setInterval(() => this.#pingAll(), options.heartbeatMs);
    this.#ping.unref();
  }

  get size(): number {
    return this.#streams.size;
  }

  /** Start a stream on `res`: hello, then one snapshot per service. */
  open(req: IncomingMessage, res: ServerResponse, services: readonly string[], tokenId?: string, identity?: string): void {
    if (this.#closed) {
      res.writeHead(503, { connection: 'close' }).end();
      return;
    }
    const max = this.#options.maxStreamsPerToken;
    const held = tokenId === undefined ? 0 : (this.#byToken.get(tokenId) ?? 0);
    if (max !== undefined && held >= max) {
      throw new HttpError(429, ErrorCode.TOO_MANY_STREAMS, `token ${tokenId} already has ${held} watch streams open, the most one token may (--max-watch-streams-per-token ${max}); close one first`);
    }
    const stream: Stream = { id: randomBytes(12).toString('base64url'), res, services: new Set(), openedAt: performance.now(), tokenId, identity };
    this.#streams.set(stream.id, stream);
    if (tokenId !== undefined) this.#byToken.set(tokenId, held + 1);
    const socket = req.socket;
    res.on('close', () => this.#drop(stream, cutForSendStall(socket) ? 'cut at the send timeout: the peer stopped reading' : 'closed by peer'));
    req.socket.setKeepAlive(true, 30_000);
    res.writeHead(200, SSE_HEADERS);
    const hello: WatchHello = { streamId: stream.id, revision: this.#options.revision(), heartbeatMs: this.#options.heartbeatMs };
    let out = sseEvent('hello', hello);
    // Before any snapshot: a workload must know whom to trust before it dials anyone.
    const bundle = this.#options.trustBundle?.();
    if (bundle) out += sseEvent('trust-bundle', bundle);
    for (const s of services) {
      this.#follow(stream, s);
      out += this.#event(s);
    }
    this.#write(stream, out);
    this.#options.log(`watch open stream=${shortId(stream.id)} peer=${peerOf(req)} services=${listForLog(services)}`);
  }

  /**
   * Change what a stream follows; the snapshots of `add` are written before
   * this returns, so the caller's 204 means "you have them". False for an
   * unknown stream.
   */
  update(streamId: string, add: readonly string[], remove: readonly string[]): boolean {
    const stream = this.#streams.get(streamId);
    if (!stream) return false;
    for (const s of remove) this.#unfollow(stream, s);
    let out = '';
    for (const s of add) {
      this.#follow(stream, s);
      out += this.#event(s);
    }
    if (out) this.#write(stream, out);
    const changes = [...add.map((s) => `+${s}`), ...remove.map((s) => `-${s}`)];
    this.#options.log(`watch update stream=${shortId(stream.id)} ${listForLog(changes, ' ')}`);
    return true;
  }

  /** Number of services a stream follows, or undefined for an unknown stream. */
  following(streamId: string): number | undefined {
    return this.#streams.get(streamId)?.services.size;
  }

  /** The token a stream was opened with (undefined: the admin token, or no such stream). */
  tokenOf(streamId: string): string | undefined {
    return this.#streams.get(streamId)?.tokenId;
  }

  /** End every stream opened with `tokenId` (it was revoked); the client reconnects, and is refused. */
  closeToken(tokenId: string, why: string): number {
    let n = 0;
    for (const stream of [...this.#streams.values()]) {
      if (stream.tokenId !== tokenId) continue;
      this.#end(stream, why);
      n++;
    }
    return n;
  }

  /** A service changed: push its snapshot to its followers on this turn of the event loop. */
  notify(service: string): void {
    if (this.#closed || !this.#followers.has(service)) return;
    this.#dirty.add(service);
    if (!this.#flush) {
      this.#dirtySince = performance.now();
      this.#flush = setImmediate(() => this.#flushDirty());
    }
  }

  /** Something that applies to a whole namespace changed (a policy without selector): push every followed service in it. */
  notifyNamespace(namespace: string): void {
    const prefix = `${namespace}/`;
    for (const service of this.#followers.keys()) if (service.startsWith(prefix)) this.notify(service);
  }

  #flushDirty(): void {
    this.#flush = undefined;
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    for (const service of dirty) {
      const followers = this.#followers.get(service);
      if (!followers || followers.size === 0) continue;
      const event = this.#event(service);
      if (event === '') continue;
      for (const stream of followers) this.#write(stream, event);
      this.#options.pushed?.((performance.now() - this.#dirtySince) / 1000);
    }
  }

  /** A service's snapshot as an SSE event, or '' while it is held; a gateway's, never held (its state is all in the store). */
  #event(service: string): string {
    if (isGatewayRef(service)) return sseEvent('gateway', this.#options.gatewaySnapshot(service));
    if (isPeerRef(service)) {
      const exported = this.#options.peerSnapshot?.(peerOfRef(service));
      if (exported !== undefined) return sseEvent('exports', exported);
      this.#heldServices.add(service);
      return '';
    }
    const snapshot = this.#options.snapshot(service);
    if (this.#options.held?.(service, snapshot)) {
      this.#heldServices.add(service);
      return '';
    }
    return sseEvent('service', snapshot);
  }

  /** The hold is over: push every held service to its followers as it now is. */
  releaseHeld(): void {
    const held = [...this.#heldServices];
    this.#heldServices.clear();
    for (const service of held) this.notify(service);
  }

  /**
   * An event for the instances of `service` (`hyphae tap`): written to the streams that follow it and
   * were opened as it (its join token; the admin token or an insecure control plane's anonymous caller
   * too), never to the streams of its callers. Returns how many streams it was written to.
   */
  sendToInstances(service: string, event: string): number {
    const followers = this.#followers.get(service);
    if (this.#closed || !followers) return 0;
    let n = 0;
    for (const stream of followers) {
      if (stream.identity !== undefined && stream.identity !== service) continue;
      if (stream.tokenId !== undefined && stream.identity === undefined) continue;
      this.#write(stream, event);
      n++;
    }
    return n;
  }

  /** The trust bundle changed (a root rotation): every stream hears it now, whatever it follows. */
  broadcastTrustBundle(bundle: TrustBundle): void {
    if (this.#closed) return;
    const event = sseEvent('trust-bundle', bundle);
    for (const stream of this.#streams.values()) this.#write(stream, event);
    this.#options.log(`watch trust-bundle v${bundle.version} (${bundle.roots.length} roots) to ${this.#streams.size} streams`);
  }

  #pingAll(): void {
    const valid = this.#options.tokenValid;
    for (const stream of [...this.#streams.values()]) {
      if (stream.tokenId !== undefined && valid && !valid(stream.tokenId)) this.#end(stream, `token ${stream.tokenId} expired or revoked`);
      else this.#write(stream, SSE_PING);
    }
  }

  #end(stream: Stream, why: string): void {
    this.#drop(stream, why);
    stream.res.end();
  }

  #write(stream: Stream, chunk: string): void {
    const { res } = stream;
    if (res.destroyed || res.writableEnded) return;
    res.write(chunk);
    if (res.writableLength > this.#maxBuffered) {
      this.#options.log(`watch drop stream=${shortId(stream.id)}: ${res.writableLength} bytes unread (slow or stuck client)`);
      res.destroy();
    }
  }

  #follow(stream: Stream, service: string): void {
    stream.services.add(service);
    let set = this.#followers.get(service);
    if (!set) this.#followers.set(service, (set = new Set()));
    set.add(stream);
  }

  #unfollow(stream: Stream, service: string): void {
    stream.services.delete(service);
    const set = this.#followers.get(service);
    if (!set) return;
    set.delete(stream);
    if (set.size === 0) this.#followers.delete(service);
  }

  #drop(stream: Stream, why: string): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    if (stream.tokenId !== undefined) {
      const left = (this.#byToken.get(stream.tokenId) ?? 1) - 1;
      if (left > 0) this.#byToken.set(stream.tokenId, left);
      else this.#byToken.delete(stream.tokenId);
    }
    for (const s of [...stream.services]) this.#unfollow(stream, s);
    const seconds = ((performance.now() - stream.openedAt) / 1000).toFixed(1);
    this.#options.log(`watch close stream=${shortId(stream.id)} after=${seconds}s (${why})`);
  }

  /** End every stream (their clients reconnect, to another replica if they know one); the hub stays open. */
  endAll(why: string): void {
    const streams = [...this.#streams.values()];
    for (const stream of streams) {
      this.#drop(stream, why);
      stream.res.end();
    }
    if (streams.length > 0) this.#options.log(`watch ended ${streams.length} streams: ${why}`);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#ping);
    if (this.#flush) clearImmediate(this.#flush);
    this.#dirty.clear();
    for (const stream of [...this.#streams.values()]) {
      this.#drop(stream, 'control plane closing');
      stream.res.end();
    }
  }
}

function peerOf(req: IncomingMessage): string {
  const { remoteAddress, remotePort } = req.socket;
  return remoteAddress?.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}

function listForLog(items: readonly string[], sep = ','): string {
  if (items.length === 0) return '(none)';
  const shown = items.slice(0, 10).join(sep);
  return items.length > 10 ? `${shown}${sep}…(+${items.length - 10})` : shown;
}
