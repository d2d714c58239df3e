/**
 * A Gateway snapshot compiled for requests: per port, which listener takes a
 * request (SNI or Host, config/hostname-match.ts compileListenerSelection);
 * per listener and Host, the attached Routes (compileGatewayHosts) in
 * hostname tiers — the Routes naming that exact host, then those of each
 * wildcard covering it (longest first), then those naming none — each tier
 * compiled by the client's own compileRoutes (mesh/edge-routes.ts) into a
 * RouteTable. A request is sent as a mesh call carrying the tables
 * (PARENT_ROUTES): the route layer takes the first tier with a matching rule
 * (the Gateway API: "the next less specific set is tried"), and applies the
 * rule's filters, rate limit, timeouts and retries and picks the weighted
 * backend, exactly as for a Service parent.
 *
 * Tiers depend on the Host entry that matched, while compileGatewayHosts
 * builds one value per distinct route list: the tables of a Host entry are
 * compiled on its first request and kept with the snapshot (once per entry
 * and snapshot, never again per request).
 *
 * The call needs a destination to travel through: the first backend of the
 * routes in the gateway's namespace (the "carrier"). The tables alone decide
 * where it goes, and what it counts against: the concurrency limit, retry
 * budget, timeouts and retry policy of the backend the rule chose (the rule's
 * own timeouts and retries over that backend's), and the Gateway's per-rule
 * edge stats — never the carrier's.
 */
import type { RouteResource } from '../config/resources.js';
import type { GatewaySpec, ListenerSpec } from '../config/resources/gateway.js';
import { effectiveHostnames, isWildcard } from '../config/hostnames.js';
import { compileGatewayHosts, compileListenerSelection, type HostMatch, type ListenerHosts } from '../config/hostname-match.js';
import { PARENT_ROUTES } from '../client/logical/routing/route-layer.js';
import type { RouteTable } from '../client/logical/routing/route-table.js';
import type { CompiledRule } from '../client/logical/routing/rule.js';
import type { EdgeRoutes } from '../mesh/edge-routes.js';

export interface HostRoutes {
  /** The mesh service the call is made through (a backend of these routes). */
  readonly service: string;
  /** The call's extra options: the tier tables under PARENT_ROUTES. Made once per Host entry, shared by its requests. */
  readonly options: { readonly [PARENT_ROUTES]: readonly RouteTable[] };
}

export interface RequestListener {
  listener: ListenerSpec;
  routes: HostRoutes | undefined;
}

export class GatewayRouting {
  readonly #gateway: { namespace: string; name: string };
  readonly #edge: EdgeRoutes;
  readonly #byPort: Map<number, ListenerHosts<ListenerSpec>>;
  readonly #hosts: Map<string, ListenerHosts<readonly RouteResource[]>>;
  readonly #compiled = new WeakMap<HostMatch<readonly RouteResource[]>, HostRoutes | null>();
  /** Every rule compiled so far for this snapshot (a Host entry's tables on its first request): the edge stats count them. */
  readonly #rules = new Set<CompiledRule>();
  /** Rules left out because they could not be compiled (also logged). */
  readonly refused: string[] = [];

  constructor(gateway: { namespace: string; name: string }, spec: GatewaySpec, routes: readonly RouteResource[], edge: EdgeRoutes) {
    this.#gateway = gateway;
    this.#edge = edge;
    this.#byPort = compileListenerSelection({ spec });
    this.#hosts = compileGatewayHosts({ metadata: { namespace: gateway.namespace, name: gateway.name }, spec }, routes, (list) => list);
    // Rate-limit buckets outlive the snapshot: only those of rules this one no longer has go.
    edge.buckets(gateway).retain(routes);
  }

  /** The listener on `port` for a request (by SNI when it came over TLS with one, else by Host), and its routes for Host. */
  resolve(port: number, sni: string | undefined, host: string | undefined): RequestListener | undefined {
    const listener = this.#byPort.get(port)?.match(sni ?? host)?.value;
    if (listener === undefined) return undefined;
    const m = this.#hosts.get(listener.name)?.match(host);
    if (m === undefined) return { listener, routes: undefined };
    let compiled = this.#compiled.get(m);
    if (compiled === undefined) this.#compiled.set(m, (compiled = this.#compile(listener, m)));
    return { listener, routes: compiled ?? undefined };
  }

  /** The listener whose certificate answers a TLS ClientHello naming `servername` on `port`. */
  listenerFor(port: number, servername: string | undefined): ListenerSpec | undefined {
    return this.#byPort.get(port)?.match(servername)?.value;
  }

  #compile(listener: ListenerSpec, m: HostMatch<readonly RouteResource[]>): HostRoutes | null {
    const service = carrier(m.routes, this.#gateway.namespace);
    if (service === undefined) return null;
    const tables = tiers(listener, m.hostname, m.routes).map((tier) => this.#edge.compile(tier, this.#gateway, this.refused));
    for (const t of tables) for (const r of t.rules) this.#rules.add(r);
    this.#edge.count(this.#gateway, tables, this.#rules);
    return { service, options: { [PARENT_ROUTES]: tables } };
  }
}

/**
 * `routes` (in precedence order: compileGatewayHosts' chain) cut where the hostname that brings them in
 * changes: each route sits in the tier of its most specific name covering `hostname`.
 */
function tiers(listener: ListenerSpec, hostname: string | undefined, routes: readonly RouteResource[]): RouteResource[][] {
  const out: RouteResource[][] = [];
  let last: string | undefined;
  for (const r of routes) {
    const key = tierOf(listener, hostname, r);
    if (out.length === 0 || key !== last) out.push([r]);
    else out[out.length - 1]!.push(r);
    last = key;
  }
  return out;
}

function tierOf(listener: ListenerSpec, hostname: string | undefined, route: RouteResource): string {
  const eff = effectiveHostnames(listener.hostname, route.spec.hostnames);
  if (eff === undefined || eff.any || hostname === undefined) return '';
  if (eff.names.includes(hostname)) return hostname;
  const bare = isWildcard(hostname) ? hostname.slice(1) : hostname;
  let best = '';
  for (const n of eff.names) {
    if (!isWildcard(n)) continue;
    const suffix = n.slice(1);
    if (bare.length > suffix.length && bare.endsWith(suffix) && n.length > best.length) best = n;
  }
  return best;
}

/** The first backend in the gateway's own namespace (a call's host is a service of the mesh's namespace), else the first. */
function carrier(routes: readonly RouteResource[], namespace: string): string | undefined {
  let first: string | undefined;
  for (const r of routes) {
    for (const rule of r.spec.rules) {
      for (const ref of rule.backendRefs) {
        if ((ref.namespace ?? r.metadata.namespace) === namespace) return ref.name;
        first ??= ref.name;
      }
    }
  }
  return first;
}
