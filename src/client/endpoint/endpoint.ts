import { Pool } from 'undici';
import type { EndpointInfo } from '../../discovery/resolver.js';
import { LatencyEwma } from './latency.js';
import type { EndpointHealth } from '../../resilience/outlier-detector.js';

export type PoolFactory = (origin: string, endpoint: EndpointInfo) => Pool;

export const defaultPoolFactory: PoolFactory = (origin) => new Pool(origin, { pipelining: 1 });

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
  #pool: Pool | undefined;
  #freshPool: Pool | undefined;
  #poolFactory: PoolFactory;
  #closed = false;

  constructor(info: EndpointInfo, poolFactory: PoolFactory = defaultPoolFactory) {
    this.id = info.id;
    this.info = info;
    this.origin = `http://${info.id}`;
    this.#poolFactory = poolFactory;
  }

  get pool(): Pool {
    return (this.#pool ??= this.#poolFactory(this.origin, this.info));
  }

  /**
   * For a retry after a reset before any response (the keep-alive race: the
   * server closed an idle connection as the request went out on it): its
   * requests are sent with `reset: true`, so each gets a connection of its
   * own, closed after the response — never one that has sat idle. The main
   * pool's other idle connections may be just as stale as the one that failed.
   */
  get freshPool(): Pool {
    return (this.#freshPool ??= this.#poolFactory(this.origin, this.info));
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

async function closePool(pool: Pool | undefined): Promise<void> {
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
