/**
 * Which routes a gateway's request can reach, by listener and Host header,
 * compiled when the gateway's config changes (DESIGN: no per-request config
 * lookup by string building, no regex): one table per listener, each hostname
 * the routes serve (config/hostnames.ts `effectiveHostnames`) mapped to its
 * routes in Gateway API precedence — the exact name's routes, then those of
 * every wildcard that covers it, longest suffix first, then the routes that
 * name no hostname. A request's Host picks one precompiled entry: an exact
 * name in one Map lookup, else the longest wildcard suffix in one lookup per
 * label, else the catch-all.
 *
 * The entry's value is whatever the gateway builds from a route list (its
 * compiled route table): `build` runs once per distinct list, here, never per
 * request.
 */
import { effectiveHostnames, isWildcard } from './hostnames.js';
import type { GatewayResource, GatewaySpec, ListenerSpec, RouteResource } from './resources.js';

export interface HostMatch<T> {
  /** The hostname entry that matched (`a.example.com`, `*.example.com`), or undefined for the catch-all. */
  readonly hostname: string | undefined;
  /** Attached routes in precedence order. */
  readonly routes: readonly RouteResource[];
  /** What `build` made of `routes`. */
  readonly value: T;
}

export class ListenerHosts<T> {
  readonly listener: string;
  #exact: Map<string, HostMatch<T>>;
  /** Keyed by the wildcard's suffix with its dot: `*.example.com` under `.example.com`. */
  #wildcards: Map<string, HostMatch<T>>;
  #any: HostMatch<T> | undefined;

  constructor(listener: string, exact: Map<string, HostMatch<T>>, wildcards: Map<string, HostMatch<T>>, any: HostMatch<T> | undefined) {
    this.listener = listener;
    this.#exact = exact;
    this.#wildcards = wildcards;
    this.#any = any;
  }

  /** The routes for a request whose Host header is `host` (port, case and a trailing dot ignored); undefined: none (404). */
  match(host: string | undefined): HostMatch<T> | undefined {
    const name = host === undefined ? '' : hostOnly(host);
    if (name !== '') {
      const exact = this.#exact.get(name);
      if (exact !== undefined) return exact;
      if (this.#wildcards.size > 0) {
        // Left to right: the first suffix found is the longest, i.e. the most specific wildcard.
        for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
          if (dot === 0) continue;
          const w = this.#wildcards.get(name.slice(dot));
          if (w !== undefined) return w;
        }
      }
    }
    return this.#any;
  }
}

/**
 * The name a Host header carries: without its port, in lower case, without one trailing dot. An IPv6
 * literal keeps its brackets (`[::1]`) and, like any address, matches only the catch-all, since
 * configured hostnames are never addresses.
 */
export function hostOnly(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 0x5b /* [ */) {
    const close = host.indexOf(']');
    return close < 0 ? '' : host.slice(0, close + 1).toLowerCase();
  }
  const colon = host.indexOf(':');
  if (colon >= 0) {
    // A second colon without brackets: a bare IPv6 address, which is not a name.
    if (host.indexOf(':', colon + 1) >= 0) return '';
    end = colon;
  }
  if (end > 0 && host.charCodeAt(end - 1) === 0x2e /* . */) end--;
  const name = end === host.length ? host : host.slice(0, end);
  return name.toLowerCase();
}

/** Whether one of the route's Gateway parents attaches it to `listener` (sectionName, allowed namespaces; not hostnames). */
export function attaches(route: RouteResource, gateway: { namespace: string; name: string }, listener: GatewaySpec['listeners'][number]): boolean {
  const rns = route.metadata.namespace;
  if (rns !== gateway.namespace && listener.allowedRoutes.namespaces.from !== 'All') return false;
  return route.spec.parentRefs.some(
    (p) => p.kind === 'Gateway' && p.name === gateway.name && (p.namespace ?? rns) === gateway.namespace && (p.sectionName === undefined || p.sectionName === listener.name),
  );
}

/**
 * One `ListenerHosts` per listener of the gateway (by listener name). `routes` are the gateway's
 * attached routes in the order ties are broken (the snapshot's: by name).
 */
export function compileGatewayHosts<T>(
  gateway: Pick<GatewayResource, 'metadata'> & { spec: Pick<GatewaySpec, 'listeners'> },
  routes: readonly RouteResource[],
  build: (routes: readonly RouteResource[]) => T,
): Map<string, ListenerHosts<T>> {
  const ref = { namespace: gateway.metadata.namespace, name: gateway.metadata.name };
  // Identical route lists (common: every listener of a gateway serves the same routes) are built once.
  const built = new Map<string, T>();
  const make = (hostname: string | undefined, list: RouteResource[]): HostMatch<T> => {
    const key = list.map((r) => `${r.metadata.namespace}/${r.metadata.name}`).join(' ');
    let value = built.get(key);
    if (value === undefined && !built.has(key)) built.set(key, (value = build(list)));
    return Object.freeze({ hostname, routes: Object.freeze(list), value: value as T });
  };
  const out = new Map<string, ListenerHosts<T>>();
  for (const listener of gateway.spec.listeners) {
    const byName = new Map<string, RouteResource[]>();
    const any: RouteResource[] = [];
    for (const route of routes) {
      if (!attaches(route, ref, listener)) continue;
      const eff = effectiveHostnames(listener.hostname, route.spec.hostnames);
      if (eff === undefined) continue;
      if (eff.any) any.push(route);
      for (const name of eff.names) {
        const list = byName.get(name);
        if (list) list.push(route);
        else byName.set(name, [route]);
      }
    }
    // Wildcards, most specific (longest) first: the order an exact name falls through them.
    const wildcards = [...byName.keys()].filter(isWildcard).sort((a, b) => b.length - a.length);
    const chain = (name: string): RouteResource[] => {
      const seen = new Set<RouteResource>();
      const list: RouteResource[] = [];
      const add = (rs: readonly RouteResource[] | undefined) => rs?.forEach((r) => !seen.has(r) && (seen.add(r), list.push(r)));
      add(byName.get(name));
      const bare = isWildcard(name) ? name.slice(1) : undefined;
      for (const w of wildcards) {
        if (w === name) continue;
        const suffix = w.slice(1);
        // A wildcard covers an exact name ending in its suffix, or a longer wildcard's suffix.
        const covered = bare === undefined ? name.length > suffix.length && name.endsWith(suffix) : bare.length > suffix.length && bare.endsWith(suffix);
        if (covered) add(byName.get(w));
      }
      add(any);
      return list;
    };
    const exact = new Map<string, HostMatch<T>>();
    const wild = new Map<string, HostMatch<T>>();
    for (const name of byName.keys()) {
      if (isWildcard(name)) wild.set(name.slice(1), make(name, chain(name)));
      else exact.set(name, make(name, chain(name)));
    }
    out.set(listener.name, new ListenerHosts(listener.name, exact, wild, any.length > 0 ? make(undefined, any) : undefined));
  }
  return out;
}

/**
 * Which listener takes a connection or request on a port that several listeners share: by the TLS SNI
 * name (HTTPS: it also picks the certificate) or the Host header (HTTP), the listener with the exact
 * hostname, else the longest wildcard covering it, else the one without a hostname (Gateway API). One
 * `ListenerHosts` per port; its match's `value` is the listener, `routes` is empty.
 */
export function compileListenerSelection(gateway: { spec: Pick<GatewaySpec, 'listeners'> }): Map<number, ListenerHosts<ListenerSpec>> {
  const byPort = new Map<number, ListenerSpec[]>();
  for (const l of gateway.spec.listeners) {
    const list = byPort.get(l.port);
    if (list) list.push(l);
    else byPort.set(l.port, [l]);
  }
  const out = new Map<number, ListenerHosts<ListenerSpec>>();
  for (const [port, listeners] of byPort) {
    const exact = new Map<string, HostMatch<ListenerSpec>>();
    const wild = new Map<string, HostMatch<ListenerSpec>>();
    let any: HostMatch<ListenerSpec> | undefined;
    for (const l of listeners) {
      const m = Object.freeze({ hostname: l.hostname, routes: Object.freeze([]), value: l });
      if (l.hostname === undefined) any = m;
      else if (isWildcard(l.hostname)) wild.set(l.hostname.slice(1), m);
      else exact.set(l.hostname, m);
    }
    out.set(port, new ListenerHosts(String(port), exact, wild, any));
  }
  return out;
}
