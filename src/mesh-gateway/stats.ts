/**
 * The mesh gateway's counters, and its log of refusals: each cause is logged the first time it happens
 * (and counted every time), so a flood of bad connections costs one log line per cause, not one each.
 */
import type { Logger } from '../core/logger.js';

export type RefusalCause =
  | 'hello-timeout'
  | 'not-tls'
  | 'malformed'
  | 'too-large'
  | 'no-sni'
  | 'not-mesh-sni'
  | 'other-cluster'
  | 'unknown-service'
  | 'no-instances'
  | 'too-many-services'
  | 'discovery-timeout'
  | 'connect-failed'
  | 'connection-cap'
  | 'closing';

export interface MeshGatewayStats {
  /** Connections accepted (the cap's drops are not: the kernel hands them over and Node closes them at once). */
  accepted: number;
  /** Connections piped to an instance. */
  forwarded: number;
  /** Open now: reading a ClientHello, connecting, or piped. */
  active: number;
  /** Piped connections ended by the idle timeout. */
  idleTimeouts: number;
  /** Connects to an instance that failed (another was tried when one was left). */
  backendConnectFailures: number;
  refused: Partial<Record<RefusalCause, number>>;
}

export class GatewayCounters {
  readonly stats: MeshGatewayStats = { accepted: 0, forwarded: 0, active: 0, idleTimeouts: 0, backendConnectFailures: 0, refused: {} };
  readonly #logged = new Set<RefusalCause>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  refuse(cause: RefusalCause, detail: string): void {
    this.stats.refused[cause] = (this.stats.refused[cause] ?? 0) + 1;
    if (this.#logged.has(cause)) return;
    this.#logged.add(cause);
    this.#logger.warn('hyphae mesh gateway: refusing a connection (logged once per cause; see the counters for how many)', { cause, detail });
  }

  snapshot(): MeshGatewayStats {
    return { ...this.stats, refused: { ...this.stats.refused } };
  }
}
