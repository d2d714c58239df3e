/**
 * The mesh's recent changes, for the dashboard's drill-down ("what changed
 * around this service lately"): configuration written (whichever replica
 * wrote it: the store's own change events) and instances that came or went
 * (the registry tells which service changed; the log compares its instance
 * ids with the ones it saw last).
 *
 * In memory and bounded: the last `max` events, oldest dropped first, and
 * the ids remembered per service only for services that have instances.
 */
import type { Disposer } from '../../core/events.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import type { Resource } from '../../config/resources.js';

export const CHANGE_LOG_SIZE = 500;

export interface ChangeEvent {
  /** ISO 8601, the control plane's clock. */
  at: string;
  kind: 'config' | 'instance';
  action: 'created' | 'updated' | 'deleted' | 'registered' | 'deregistered';
  namespace: string;
  /** The resource's name, or the instance's service. */
  name: string;
  /** Config: the resource's kind; instance: the instance id (`address:port`). */
  detail: string;
  /** The services it concerns (`namespace/name`): the Service or Route parents and backends, or the instance's service. */
  services: string[];
  /** The store's revision for a config change. */
  revision?: number;
}

export class ChangeLog {
  #events: ChangeEvent[] = [];
  #known = new Map<string, Set<string>>();
  /** Per resource (`kind/namespace/name`), the services it concerns: as many entries as the store holds resources. */
  #concerns = new Map<string, string[]>();
  #max: number;
  #now: () => number;
  #dispose: Disposer[];

  constructor(registry: Registry, store: Store, options: { max?: number; now?: () => number } = {}) {
    this.#max = options.max ?? CHANGE_LOG_SIZE;
    this.#now = options.now ?? Date.now;
    for (const i of registry.list()) this.#ids(`${i.namespace}/${i.service}`).add(i.id);
    for (const { resource } of store.list()) this.#concerns.set(idOf(resource.kind, resource.metadata.namespace, resource.metadata.name), concerns(resource));
    this.#dispose = [
      store.onChange(({ revision, changes }) => {
        for (const c of changes) {
          const id = idOf(c.kind, c.namespace, c.name);
          // A delete carries no resource: what it concerned is what the resource named when last written.
          const services = c.resource ? concerns(c.resource) : (this.#concerns.get(id) ?? []);
          if (c.action === 'deleted') this.#concerns.delete(id);
          else this.#concerns.set(id, services);
          this.#push({ kind: 'config', action: c.action, namespace: c.namespace, name: c.name, detail: c.kind, services, revision });
        }
      }),
      registry.onChange((service) => {
        const [namespace, name] = splitRef(service);
        const now = new Set(registry.instances(namespace, name).map((i) => i.id));
        const before = this.#known.get(service) ?? new Set<string>();
        for (const id of now) if (!before.has(id)) this.#push({ kind: 'instance', action: 'registered', namespace, name, detail: id, services: [service] });
        for (const id of before) if (!now.has(id)) this.#push({ kind: 'instance', action: 'deregistered', namespace, name, detail: id, services: [service] });
        if (now.size > 0) this.#known.set(service, now);
        else this.#known.delete(service);
      }),
    ];
  }

  /** Newest first; only those that concern `service` (`namespace/name`) when given. */
  list(service?: string, limit = 50): ChangeEvent[] {
    const out: ChangeEvent[] = [];
    for (let i = this.#events.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.#events[i]!;
      if (service === undefined || e.services.includes(service)) out.push(e);
    }
    return out;
  }

  close(): void {
    for (const d of this.#dispose) d();
  }

  #ids(service: string): Set<string> {
    let ids = this.#known.get(service);
    if (!ids) this.#known.set(service, (ids = new Set()));
    return ids;
  }

  #push(e: Omit<ChangeEvent, 'at'>): void {
    this.#events.push({ at: new Date(this.#now()).toISOString(), ...e });
    if (this.#events.length > this.#max) this.#events.splice(0, this.#events.length - this.#max);
  }
}

function splitRef(ref: string): [string, string] {
  const slash = ref.indexOf('/');
  return [ref.slice(0, slash), ref.slice(slash + 1)];
}

function idOf(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** The services a resource is about: a Service itself, a Route's Service parents and backends, a policy's selected service. */
function concerns(resource: Resource): string[] {
  const ns = resource.metadata.namespace;
  switch (resource.kind) {
    case 'Service':
      return [`${ns}/${resource.metadata.name}`];
    case 'Route': {
      const out = new Set<string>();
      for (const p of resource.spec.parentRefs) if (p.kind !== 'Gateway') out.add(`${p.namespace ?? ns}/${p.name}`);
      for (const rule of resource.spec.rules) for (const b of rule.backendRefs ?? []) out.add(`${b.namespace ?? ns}/${b.name}`);
      return [...out];
    }
    case 'AuthorizationPolicy':
    case 'PeerAuthentication':
      return resource.spec.selector?.service ? [`${ns}/${resource.spec.selector.service}`] : [];
    default:
      return [];
  }
}
