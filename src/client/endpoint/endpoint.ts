import type { EndpointInfo } from '../../discovery/resolver.js';
import { LatencyEwma } from './latency.js';
import type { EndpointHealth } from '../../resilience/outlier-detector.js';
import { endpointPool, type EndpointDispatcher, type NegotiatedProtocol, type WireProtocol } from './pool.js';
import { PROTOCOL_HINT_H2, PROTOCOL_HINT_LABEL } from '../../config/protocol-hint.js';

/**
 * A pool for `endpoint` speaking `protocol`, given what its connections negotiated so far (`learned`);
 * `onProtocol` hears what each of the pool's connections negotiates (pool.ts).
 */
export type PoolFactory = (origin: string, endpoint: EndpointInfo, protocol: WireProtocol, learned: NegotiatedProtocol | undefined, onProtocol: (p: NegotiatedProtocol) => void) => EndpointDispatcher;

/** Without mTLS: plain TCP (HTTP/1.1, or h2c when the Service forces h2). */
export const defaultPoolFactory: PoolFactory = (origin, _endpoint, protocol, learned, onProtocol) => endpointPool(origin, { tls: false, protocol, learned, onProtocol });
/** The same, HTTP/1.1 on the raw transport (mesh option http1Transport: 'raw'). */
export const rawPlainPoolFactory: PoolFactory = (origin, _endpoint, protocol, learned, onProtocol) => endpointPool(origin, { tls: false, protocol, learned, onProtocol, transport: 'raw' });

/** What an endpoint's pools are made from, shared by the endpoints of one destination (EndpointSet owns it). */
export interface PoolSource {
  factory: PoolFactory;
  /** The destination's Service.spec.protocol. */
  protocol: WireProtocol;
}

/** How long a removed endpoint's pool may take to finish its in-flight requests before it is destroyed. */
const CLOSE_GRACE_MS = 30_000;

/**
 * One instance of a destination service, with everything the client keeps
 * about it: its connection pool (created on first use), in-flight count,
 * latency EWMA and outlier-detection state (`health`).
 */
export class Endpoint {
  readonly id: string;
  readonly origin: string;
  info: EndpointInfo;
  /** Requests sent and not yet finished (response end, error or discard). */
  inflight = 0;
  /** Time to response headers, fed by every Attempt (concrete/balancers/peak-ewma.ts reads it). */
  readonly latency = new LatencyEwma();
  /**
   * Whether balancers may pick it while healthy endpoints are left: false
   * while outlier detection has it ejected (outside panic). Destination sets
   * it through EndpointSet.updateHealth(), which rebuilds the subset and
   * locality views (never per request).
   */
  healthy = true;
  /** Outlier-detection state, attached by the outlier filter on first use; undefined: never judged. */
  health: EndpointHealth | undefined = undefined;
  /**
   * What this endpoint's connections last negotiated (issue 18); undefined until one connected over a pool
   * that could speak HTTP/2 (an HTTP/1.1-only pool does not ask). Telemetry reads it as the protocol version.
   */
  protocol: NegotiatedProtocol | undefined = undefined;
  /** The error of the last failure outlier detection counted against it (outlier.ts counts one error once). */
  lastFailure: object | undefined = undefined;
  #pool: EndpointDispatcher | undefined;
  #freshPool: EndpointDispatcher | undefined;
  #source: PoolSource;
  /** What the last pool made was shaped for (the `learned` it was given). */
  #shapedFor: NegotiatedProtocol | undefined;
  #closed = false;
  readonly #onProtocol = (p: NegotiatedProtocol): void => this.#learn(p);

  /** `pools`: a bare factory (the protocol is then `auto`), or the destination's shared source. */
  constructor(info: EndpointInfo, pools: PoolFactory | PoolSource = defaultPoolFactory) {
    this.id = info.id;
    this.info = info;
    this.origin = `http://${info.id}`;
    this.#source = typeof pools === 'function' ? { factory: pools, protocol: 'auto' } : pools;
  }

  get pool(): EndpointDispatcher {
    return (this.#pool ??= this.#newPool());
  }

  #newPool(): EndpointDispatcher {
    // Until a connection has said what the server speaks, its registration's hint stands in (config/protocol-hint.ts).
    const learned = this.protocol ?? (this.info.labels[PROTOCOL_HINT_LABEL] === PROTOCOL_HINT_H2 ? 'h2' : undefined);
    this.#shapedFor = learned;
    return this.#source.factory(this.origin, this.info, this.#source.protocol, learned, this.#onProtocol);
  }

  /**
   * In `auto` the pool's shape follows what the endpoint's connections negotiate (pool.ts): the first one
   * is HTTP/1.1-shaped; once a connection comes up h2 the next is the HTTP/2 one (a few connections), and
   * back if the server later answers HTTP/1.1 (another process at the same address).
   */
  #learn(p: NegotiatedProtocol): void {
    this.protocol = p;
    // The pools were shaped for what was known when they were made (the hint, or an earlier connection):
    // a connection that says otherwise gets them remade in its protocol's shape.
    if (this.#source.protocol === 'auto' && (p === 'h2') !== (this.#shapedFor === 'h2')) this.renewPools();
  }

  /**
   * Make new pools on next use (the Service's protocol changed, or the endpoint's server answered other than
   * asked); the current ones finish their calls and close.
   */
  renewPools(): void {
    const pool = this.#pool;
    const fresh = this.#freshPool;
    this.#pool = undefined;
    this.#freshPool = undefined;
    if (!this.#closed) void Promise.all([closePool(pool), closePool(fresh)]);
  }

  /**
   * For a retry after a reset before any response (the keep-alive race: the
   * server closed an idle connection as the request went out on it): its
   * requests are sent with `reset: true`, so each gets a connection of its
   * own, closed after the response — never one that has sat idle. The main
   * pool's other idle connections may be just as stale as the one that failed.
   */
  get freshPool(): EndpointDispatcher {
    return (this.#freshPool ??= this.#newPool());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * May a balancer pick this endpoint now? False while outlier detection has it
   * ejected (unless the destination panics) or while its one trial request after
   * an ejection is in flight. A balancer that finds no available endpoint should
   * pick among all of them rather than fail.
   */
  get available(): boolean {
    return this.health === undefined || this.health.available;
  }

  /** Let in-flight requests finish, then release the sockets; destroy what is still open after the grace. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.health?.release();
    await Promise.all([closePool(this.#pool), closePool(this.#freshPool)]);
  }
}

async function closePool(pool: EndpointDispatcher | undefined): Promise<void> {
  if (!pool) return;
  const grace = setTimeout(() => void pool.destroy(), CLOSE_GRACE_MS);
  grace.unref();
  try {
    await pool.close();
  } catch {
    // Destroyed after the grace: nothing left to release.
  } finally {
    clearTimeout(grace);
  }
}
