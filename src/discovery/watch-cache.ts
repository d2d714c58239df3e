/**
 * Shares one resolver watch per service among every destination and caller in
 * the process, and remembers the last state so that a late subscriber is
 * answered at once instead of waiting for the next push.
 */
import { Listeners, type Disposer } from '../core/events.js';
import type { MeshError } from '../core/errors.js';
import type { AuthorizationPolicyResource, MtlsMode, RouteResource, ServiceSpec } from '../config/resources.js';
import type { EndpointInfo, Resolver, ResolverUpdate, ServiceKey } from './resolver.js';

export interface ReadyState {
  status: 'ready';
  endpoints: readonly EndpointInfo[];
  config: ServiceSpec | null;
  routes: readonly RouteResource[];
  policies: readonly AuthorizationPolicyResource[];
  mtlsMode: MtlsMode | null;
  version: number | undefined;
}

/** `policies` of a not-found service: those that already select it (see ResolverUpdate). */
export type ServiceState = { status: 'pending' } | ReadyState | { status: 'not-found'; policies?: readonly AuthorizationPolicyResource[] };

const EMPTY: readonly never[] = Object.freeze([]);

interface Entry {
  state: ServiceState;
  /** The last resolver error; cleared by the next good update. */
  error: MeshError | undefined;
  listeners: Listeners<ServiceState | MeshError>;
  dispose: Disposer;
}

export class WatchCache {
  #resolver: Resolver;
  #entries = new Map<string, Entry>();

  constructor(resolver: Resolver) {
    this.#resolver = resolver;
  }

  /** Current state without subscribing ('pending' when nobody watches the service yet). */
  get(service: ServiceKey): ServiceState {
    return this.#entries.get(keyOf(service))?.state ?? { status: 'pending' };
  }

  /**
   * Subscribe to a service's state. The listener hears a ServiceState on every
   * change and a MeshError when the resolver fails (the last state stays valid).
   */
  subscribe(service: ServiceKey, listener: (s: ServiceState | MeshError) => void): Disposer {
    const key = keyOf(service);
    let entry = this.#entries.get(key);
    const isNew = !entry;
    if (!entry) {
      entry = { state: { status: 'pending' }, error: undefined, listeners: new Listeners(), dispose: () => {} };
      this.#entries.set(key, entry);
    }
    const e = entry;
    let active = true;
    // Set when a live update reaches this listener, so the catch-up below never delivers an older state after it.
    let heard = false;
    const off = e.listeners.on((s) => {
      heard = true;
      listener(s);
    });
    if (isNew) {
      // Listen first: a resolver may answer from inside watch().
      e.dispose = this.#resolver.watch(service, (u) => this.#apply(e, u));
    } else if (e.state.status !== 'pending') {
      queueMicrotask(() => {
        if (active && !heard) listener(e.state);
      });
    }
    return () => {
      if (!active) return;
      active = false;
      off();
      if (e.listeners.size === 0 && this.#entries.get(key) === e) {
        e.dispose();
        this.#entries.delete(key);
      }
    };
  }

  #apply(entry: Entry, u: ResolverUpdate): void {
    const prev = entry.state;
    switch (u.type) {
      case 'error':
        entry.error = u.error;
        entry.listeners.emit(u.error);
        return;
      case 'not-found':
        entry.state = u.policies?.length ? { status: 'not-found', policies: u.policies } : { status: 'not-found' };
        break;
      case 'reset':
        entry.state = {
          status: 'ready',
          endpoints: u.endpoints,
          config: u.config ?? null,
          routes: u.routes ?? EMPTY,
          policies: u.policies ?? EMPTY,
          mtlsMode: u.mtlsMode ?? null,
          version: u.version,
        };
        break;
      case 'add': {
        const base: ReadyState = prev.status === 'ready' ? prev : { status: 'ready', endpoints: EMPTY, config: null, routes: EMPTY, policies: EMPTY, mtlsMode: null, version: undefined };
        entry.state = { ...base, endpoints: [...base.endpoints.filter((e) => e.id !== u.endpoint.id), u.endpoint], version: undefined };
        break;
      }
      case 'remove': {
        if (prev.status !== 'ready') return;
        entry.state = { ...prev, endpoints: prev.endpoints.filter((e) => e.id !== u.id), version: undefined };
        break;
      }
    }
    entry.error = undefined;
    entry.listeners.emit(entry.state);
  }

  async close(): Promise<void> {
    for (const e of this.#entries.values()) {
      e.dispose();
      e.listeners.clear();
    }
    this.#entries.clear();
  }
}

function keyOf(s: ServiceKey): string {
  return `${s.namespace}/${s.name}`;
}
