import { Listeners, type Disposer } from '../core/events.js';
import type { EndpointInfo } from '../discovery/resolver.js';
import { Endpoint, type PoolFactory } from './endpoint.js';

/**
 * The endpoints of one destination. It owns each endpoint (and so its pool and
 * state): an endpoint that discovery removes is closed gracefully, and one that
 * stays keeps its warm connections and history across updates.
 */
export class EndpointSet {
  #byId = new Map<string, Endpoint>();
  /** Kept as an array so the balancer reads it without allocating per request. */
  #list: readonly Endpoint[] = [];
  #poolFactory: PoolFactory | undefined;
  #changed = new Listeners<readonly Endpoint[]>();

  constructor(poolFactory?: PoolFactory) {
    this.#poolFactory = poolFactory;
  }

  get list(): readonly Endpoint[] {
    return this.#list;
  }

  get size(): number {
    return this.#list.length;
  }

  get(id: string): Endpoint | undefined {
    return this.#byId.get(id);
  }

  onChange(listener: (list: readonly Endpoint[]) => void): Disposer {
    return this.#changed.on(listener);
  }

  /** Replace the set: keep endpoints whose id stays, add new ones, close removed ones. */
  reset(infos: readonly EndpointInfo[]): void {
    const next = new Map<string, Endpoint>();
    for (const info of infos) {
      const existing = this.#byId.get(info.id);
      if (existing) {
        existing.info = info;
        next.set(info.id, existing);
      } else if (!next.has(info.id)) {
        next.set(info.id, new Endpoint(info, this.#poolFactory));
      }
    }
    for (const [id, ep] of this.#byId) if (!next.has(id)) void ep.close();
    this.#byId = next;
    this.#list = [...next.values()];
    this.#changed.emit(this.#list);
  }

  async close(): Promise<void> {
    const eps = [...this.#byId.values()];
    this.#byId.clear();
    this.#list = [];
    this.#changed.clear();
    await Promise.all(eps.map((e) => e.close()));
  }
}
