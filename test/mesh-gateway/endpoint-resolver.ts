/**
 * A resolver (the public Resolver interface, as a user's own would be) whose endpoints may carry a
 * `cluster`: what the control-plane resolver hands out for an imported instance once peering passes the
 * field on (s8-peering). The mesh gateway's tests and the client's SNI test use it.
 */
import { Listeners, type Disposer } from '../../src/core/events.js';
import type { EndpointInfo, Resolver, ResolverUpdate, ServiceKey } from '../../src/discovery/resolver.js';
import type { MtlsMode } from '../../src/config/resources.js';

export interface TestEndpoint {
  address: string;
  port: number;
  cluster?: string;
}

export class EndpointResolver implements Resolver {
  readonly #services = new Map<string, EndpointInfo[]>();
  readonly #listeners = new Map<string, Listeners<ResolverUpdate>>();
  readonly #mode: MtlsMode | null;
  /** How many watches were opened (a service followed anew counts again). */
  watches = 0;

  constructor(mode: MtlsMode | null = null) {
    this.#mode = mode;
  }

  set(service: ServiceKey, endpoints: TestEndpoint[]): void {
    const key = `${service.namespace}/${service.name}`;
    const infos = endpoints.map((e) => ({ id: `${e.address}:${e.port}`, address: e.address, port: e.port, labels: {}, weight: 1, ...(e.cluster ? { cluster: e.cluster } : {}) }));
    this.#services.set(key, infos);
    this.#listeners.get(key)?.emit(this.#reset(infos));
  }

  #reset(endpoints: EndpointInfo[]): ResolverUpdate {
    return { type: 'reset', endpoints, ...(this.#mode ? { mtlsMode: this.#mode } : {}) };
  }

  watch(service: ServiceKey, listener: (update: ResolverUpdate) => void): Disposer {
    this.watches++;
    const key = `${service.namespace}/${service.name}`;
    let ls = this.#listeners.get(key);
    if (!ls) this.#listeners.set(key, (ls = new Listeners()));
    const dispose = ls.on(listener);
    const eps = this.#services.get(key);
    queueMicrotask(() => listener(eps ? this.#reset(eps) : { type: 'not-found' }));
    return dispose;
  }

  async close(): Promise<void> {
    for (const ls of this.#listeners.values()) ls.clear();
  }
}
