import { Listeners, type Disposer } from '../core/events.js';
import type { ServiceSnapshot } from '../config/wire.js';
import type { Resolver, ResolverUpdate, ServiceKey } from './resolver.js';
import type { WatchStream } from './watch-stream.js';

/** Resolves services through the control plane's watch stream. */
export class ControlPlaneResolver implements Resolver {
  #stream: WatchStream;
  #listeners = new Map<string, Listeners<ResolverUpdate>>();
  #disposers: Disposer[] = [];

  constructor(stream: WatchStream) {
    this.#stream = stream;
    this.#disposers.push(
      stream.onSnapshot((snap) => this.#listeners.get(`${snap.namespace}/${snap.name}`)?.emit(toUpdate(snap))),
      stream.onStatus((status) => {
        if (status.connected) return;
        for (const ls of this.#listeners.values()) ls.emit({ type: 'error', error: status.error });
      }),
    );
  }

  watch(service: ServiceKey, listener: (update: ResolverUpdate) => void): Disposer {
    const ref = `${service.namespace}/${service.name}`;
    let ls = this.#listeners.get(ref);
    if (!ls) this.#listeners.set(ref, (ls = new Listeners()));
    const dispose = ls.on(listener);
    this.#stream.follow(ref);
    return () => {
      dispose();
      if (ls.size === 0) {
        this.#listeners.delete(ref);
        this.#stream.unfollow(ref);
      }
    };
  }

  async close(): Promise<void> {
    for (const d of this.#disposers) d();
    this.#listeners.clear();
  }
}

function toUpdate(snap: ServiceSnapshot): ResolverUpdate {
  if (!snap.exists) return { type: 'not-found', policies: snap.policies };
  return {
    type: 'reset',
    version: snap.version,
    config: snap.config,
    routes: snap.routes,
    policies: snap.policies,
    mtlsMode: snap.mtlsMode,
    endpoints: snap.instances.map((i) => ({ id: i.id, address: i.address, port: i.port, labels: i.labels, weight: i.weight })),
  };
}
