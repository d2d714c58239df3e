/**
 * Which stored resources belong in which snapshot: routes by their parentRefs
 * (a Service parent puts the route in that service's snapshot, a Gateway parent
 * in that gateway's), authorization policies and peer authentication by
 * selector (or the whole namespace). Rebuilt from the store on each config
 * write — writes are rare, snapshots are many — and it remembers what each
 * resource touched, so an update or delete also refreshes what it used to
 * apply to.
 */
import type { AuthorizationPolicyResource, MtlsMode, PeerAuthenticationResource, Resource, RouteResource } from '../../config/resources.js';
import { gatewayRef } from '../../config/wire.js';
import type { Store, StoreChange } from '../store/store.js';

export interface Affected {
  /** Watch keys: services (`namespace/name`) and gateways (`Gateway/namespace/name`). */
  services: Set<string>;
  namespaces: Set<string>;
}

export class ConfigIndex {
  #store: Store;
  #routes = new Map<string, RouteResource[]>();
  /** `Gateway/namespace/name` -> routes attached to it. */
  #gatewayRoutes = new Map<string, RouteResource[]>();
  #policiesByService = new Map<string, AuthorizationPolicyResource[]>();
  #policiesByNamespace = new Map<string, AuthorizationPolicyResource[]>();
  #peerAuthByService = new Map<string, PeerAuthenticationResource>();
  #peerAuthByNamespace = new Map<string, PeerAuthenticationResource>();
  /** resource key -> what it touched when last indexed. */
  #touched = new Map<string, Affected>();

  constructor(store: Store) {
    this.#store = store;
    this.rebuild();
  }

  routesFor(service: string): RouteResource[] {
    return this.#routes.get(service) ?? [];
  }

  /** Routes with a Gateway parent naming `key` (`Gateway/namespace/name`), in the store's (name) order. */
  routesForGateway(key: string): RouteResource[] {
    return this.#gatewayRoutes.get(key) ?? [];
  }

  policiesFor(service: string): AuthorizationPolicyResource[] {
    const ns = service.slice(0, service.indexOf('/'));
    return [...(this.#policiesByNamespace.get(ns) ?? []), ...(this.#policiesByService.get(service) ?? [])];
  }

  /** The service's own PeerAuthentication, else its namespace's, else STRICT when a CA exists (null without one). */
  mtlsModeFor(service: string, hasCa: boolean): MtlsMode | null {
    if (!hasCa) return null;
    const ns = service.slice(0, service.indexOf('/'));
    return (this.#peerAuthByService.get(service) ?? this.#peerAuthByNamespace.get(ns))?.spec.mode ?? 'STRICT';
  }

  /** Re-index after a write; returns every service and namespace whose snapshot may have changed. */
  applyChange(change: StoreChange): Affected {
    const affected: Affected = { services: new Set(), namespaces: new Set() };
    for (const c of change.changes) {
      const before = this.#touched.get(`${c.kind}/${c.namespace}/${c.name}`);
      before?.services.forEach((s) => affected.services.add(s));
      before?.namespaces.forEach((n) => affected.namespaces.add(n));
      if (c.resource) {
        const now = touchedBy(c.resource);
        now.services.forEach((s) => affected.services.add(s));
        now.namespaces.forEach((n) => affected.namespaces.add(n));
      }
    }
    this.rebuild();
    return affected;
  }

  rebuild(): void {
    this.#routes.clear();
    this.#gatewayRoutes.clear();
    this.#policiesByService.clear();
    this.#policiesByNamespace.clear();
    this.#peerAuthByService.clear();
    this.#peerAuthByNamespace.clear();
    this.#touched.clear();
    for (const { resource } of this.#store.list()) {
      const key = `${resource.kind}/${resource.metadata.namespace}/${resource.metadata.name}`;
      this.#touched.set(key, touchedBy(resource));
      const ns = resource.metadata.namespace;
      switch (resource.kind) {
        case 'Route':
          // A route names a parent once per listener at most, but it is listed once per parent.
          for (const key of new Set(resource.spec.parentRefs.filter((p) => p.kind === 'Gateway').map((p) => gatewayRef(p.namespace ?? ns, p.name)))) {
            push(this.#gatewayRoutes, key, resource);
          }
          {
            const view = serviceView(resource);
            for (const p of resource.spec.parentRefs) if (p.kind !== 'Gateway') push(this.#routes, `${p.namespace ?? ns}/${p.name}`, view);
          }
          break;
        case 'AuthorizationPolicy':
          if (resource.spec.selector) push(this.#policiesByService, `${ns}/${resource.spec.selector.service}`, resource);
          else push(this.#policiesByNamespace, ns, resource);
          break;
        case 'PeerAuthentication':
          // Several for one target: the first by name wins (the store lists in name order), as documented.
          if (resource.spec.selector) {
            const k = `${ns}/${resource.spec.selector.service}`;
            if (!this.#peerAuthByService.has(k)) this.#peerAuthByService.set(k, resource);
          } else if (!this.#peerAuthByNamespace.has(ns)) {
            this.#peerAuthByNamespace.set(ns, resource);
          }
          break;
        // A ServiceExport changes what peers import (../peering), not what this cluster's watchers see.
        case 'Service':
        case 'Gateway':
        case 'ServiceExport':
          break;
      }
    }
  }
}

/**
 * A route as a service's callers get it: its Service parents only, `kind` left out, no `hostnames` (which
 * Service parents ignore). What a mesh client reads is unchanged, and the snapshot keeps the shape every
 * client before issue 16 parses strictly: a route that also attaches to a Gateway must not make an
 * older client drop the service's snapshots. Runs on config writes, never per snapshot.
 */
function serviceView(route: RouteResource): RouteResource {
  const spec = route.spec;
  if (spec.hostnames === undefined && spec.parentRefs.every((p) => p.kind === undefined)) return route;
  const parentRefs = spec.parentRefs.filter((p) => p.kind !== 'Gateway').map(({ kind: _kind, ...ref }) => ref);
  return { ...route, spec: { parentRefs, rules: spec.rules } };
}

function touchedBy(r: Resource): Affected {
  const ns = r.metadata.namespace;
  const out: Affected = { services: new Set(), namespaces: new Set() };
  switch (r.kind) {
    case 'Service':
      out.services.add(`${ns}/${r.metadata.name}`);
      break;
    case 'Route':
      for (const p of r.spec.parentRefs) out.services.add(p.kind === 'Gateway' ? gatewayRef(p.namespace ?? ns, p.name) : `${p.namespace ?? ns}/${p.name}`);
      break;
    case 'Gateway':
      out.services.add(gatewayRef(ns, r.metadata.name));
      break;
    case 'AuthorizationPolicy':
    case 'PeerAuthentication':
      if (r.spec.selector) out.services.add(`${ns}/${r.spec.selector.service}`);
      else out.namespaces.add(ns);
      break;
  }
  return out;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
