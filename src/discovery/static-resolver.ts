import { Listeners, type Disposer } from '../core/events.js';
import { instanceId } from '../config/instance.js';
import type { EndpointInfo, Resolver, ResolverUpdate, ServiceConfig, ServiceKey } from './resolver.js';

export interface StaticEndpoint {
  address: string;
  port: number;
  labels?: Record<string, string>;
  weight?: number;
  /** The cluster of an endpoint that runs in another cluster than this process (EndpointInfo.cluster). */
  cluster?: string;
}

/**
 * Endpoints given in code: for tests, benchmarks and meshes without a control
 * plane. `set()` replaces a service's endpoints and tells every watcher;
 * `configure()` gives a service the config a control plane would (a Service
 * spec, routes).
 */
export class StaticResolver implements Resolver {
  #services = new Map<string, EndpointInfo[]>();
  #configs = new Map<string, ServiceConfig>();
  #listeners = new Map<string, Listeners<ResolverUpdate>>();

  constructor(services: Record<string, StaticEndpoint[]> = {}) {
    for (const [name, eps] of Object.entries(services)) this.#services.set(keyOf(name), eps.map(toInfo));
  }

  set(service: string | ServiceKey, endpoints: StaticEndpoint[]): void {
    const key = typeof service === 'string' ? keyOf(service) : `${service.namespace}/${service.name}`;
    const infos = endpoints.map(toInfo);
    this.#services.set(key, infos);
    this.#listeners.get(key)?.emit({ type: 'reset', endpoints: infos, ...this.#configs.get(key) });
  }

  /** Set a service's config (Service spec, routes); its endpoints stay. */
  configure(service: string | ServiceKey, config: ServiceConfig): void {
    const key = typeof service === 'string' ? keyOf(service) : `${service.namespace}/${service.name}`;
    this.#configs.set(key, config);
    const eps = this.#services.get(key);
    if (eps) this.#listeners.get(key)?.emit({ type: 'reset', endpoints: eps, ...config });
  }

  watch(service: ServiceKey, listener: (update: ResolverUpdate) => void): Disposer {
    const key = `${service.namespace}/${service.name}`;
    let ls = this.#listeners.get(key);
    if (!ls) this.#listeners.set(key, (ls = new Listeners()));
    const dispose = ls.on(listener);
    const eps = this.#services.get(key);
    queueMicrotask(() => listener(eps ? { type: 'reset', endpoints: eps, ...this.#configs.get(key) } : { type: 'not-found' }));
    return dispose;
  }

  async close(): Promise<void> {
    for (const ls of this.#listeners.values()) ls.clear();
  }
}

function keyOf(name: string): string {
  return name.includes('/') ? name : `default/${name}`;
}

function toInfo(e: StaticEndpoint): EndpointInfo {
  const info: EndpointInfo = { id: instanceId(e.address, e.port), address: e.address, port: e.port, labels: e.labels ?? {}, weight: e.weight ?? 1 };
  if (e.cluster !== undefined) info.cluster = e.cluster;
  return info;
}
