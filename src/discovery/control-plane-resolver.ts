import { Listeners, type Disposer } from '../core/events.js';
import type { ServiceSnapshot } from '../config/wire.js';
import type { Resolver, ResolverUpdate, ServiceKey } from './resolver.js';
import type { WatchStream } from './watch-stream.js';

/**
 * Last-known-good snapshots to fall back on while the control plane cannot be
 * reached (fail-static; see snapshot-cache.ts).
 */
export interface SnapshotFallback {
  get(ref: string): ServiceSnapshot | undefined;
  /** True: answer from the fallback at once (the process started while the control plane was down). */
  readonly serveImmediately: boolean;
  close?(): Promise<void>;
}

/** Resolves services through the control plane's watch stream. */
export class ControlPlaneResolver implements Resolver {
  #stream: WatchStream;
  #listeners = new Map<string, Listeners<ResolverUpdate>>();
  #disposers: Disposer[] = [];
  #fallback: SnapshotFallback | undefined;
  /** Services whose watchers have heard a state (live or from the fallback). */
  #answered = new Set<string>();

  constructor(stream: WatchStream, fallback?: SnapshotFallback) {
    this.#stream = stream;
    this.#fallback = fallback;
    this.#disposers.push(
      stream.onSnapshot((snap) => {
        const ref = `${snap.namespace}/${snap.name}`;
        const ls = this.#listeners.get(ref);
        if (!ls) return;
        this.#answered.add(ref);
        ls.emit(toUpdate(snap));
      }),
      stream.onStatus((status) => {
        if (status.connected) return;
        // Fail static: a service nobody has heard of yet starts from its last-known-good snapshot,
        // before the error (which then leaves that state in force).
        for (const ref of this.#listeners.keys()) this.#answerFromFallback(ref);
        for (const ls of this.#listeners.values()) ls.emit({ type: 'error', error: status.error });
      }),
    );
  }

  #answerFromFallback(ref: string): void {
    if (this.#answered.has(ref)) return;
    const snap = this.#fallback?.get(ref);
    const ls = this.#listeners.get(ref);
    if (!snap || !ls) return;
    this.#answered.add(ref);
    ls.emit(toUpdate(snap));
  }

  watch(service: ServiceKey, listener: (update: ResolverUpdate) => void): Disposer {
    const ref = `${service.namespace}/${service.name}`;
    let ls = this.#listeners.get(ref);
    if (!ls) this.#listeners.set(ref, (ls = new Listeners()));
    const dispose = ls.on(listener);
    this.#stream.follow(ref);
    if (this.#fallback?.serveImmediately) queueMicrotask(() => this.#answerFromFallback(ref));
    return () => {
      dispose();
      if (ls.size === 0) {
        this.#listeners.delete(ref);
        this.#answered.delete(ref);
        this.#stream.unfollow(ref);
      }
    };
  }

  async close(): Promise<void> {
    for (const d of this.#disposers) d();
    this.#listeners.clear();
    await this.#fallback?.close?.();
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
    endpoints: snap.instances.map((i) =>
      i.cluster === undefined
        ? { id: i.id, address: i.address, port: i.port, labels: i.labels, weight: i.weight }
        : { id: i.id, address: i.address, port: i.port, labels: i.labels, weight: i.weight, cluster: i.cluster },
    ),
  };
}
