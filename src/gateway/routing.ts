/**
 * A Gateway snapshot compiled for requests (once per snapshot, never per
 * request): per port, which listener takes a request (SNI or Host,
 * config/hostname-match.ts compileListenerSelection); per listener and Host,
 * the attached Routes (compileGatewayHosts), compiled by the client's own
 * compileRoutes into one RouteTable (mesh/edge-routes.ts). A request is then
 * sent as a mesh call carrying that table (PARENT_ROUTES): the route layer
 * matches it, applies the rule's filters, rate limit, timeouts and retries,
 * and picks the weighted backend, exactly as for a Service parent.
 *
 * The call needs a destination to travel through (its concurrency limit and
 * retry budget are that destination's): the first backend of the routes in
 * the gateway's namespace. The table alone decides where it goes.
 */
import type { RouteResource } from '../config/resources.js';
import type { GatewaySpec, ListenerSpec } from '../config/resources/gateway.js';
import { compileGatewayHosts, compileListenerSelection, type ListenerHosts } from '../config/hostname-match.js';
import { PARENT_ROUTES } from '../client/logical/routing/route-layer.js';
import type { RouteTable } from '../client/logical/routing/route-table.js';
import type { EdgeRoutes } from '../mesh/edge-routes.js';

export interface HostRoutes {
  /** The mesh service the call is made through (a backend of these routes). */
  readonly service: string;
  /** The call's extra options: the compiled table under PARENT_ROUTES. Made once, shared by every request. */
  readonly options: { readonly [PARENT_ROUTES]: RouteTable };
}

export interface RequestListener {
  listener: ListenerSpec;
  routes: HostRoutes | undefined;
}

export class GatewayRouting {
  readonly #byPort: Map<number, ListenerHosts<ListenerSpec>>;
  readonly #hosts: Map<string, ListenerHosts<HostRoutes | undefined>>;
  /** Rules left out because they could not be compiled (also logged). */
  readonly refused: string[] = [];

  constructor(gateway: { namespace: string; name: string }, spec: GatewaySpec, routes: readonly RouteResource[], edge: EdgeRoutes) {
    this.#byPort = compileListenerSelection({ spec });
    this.#hosts = compileGatewayHosts({ metadata: { namespace: gateway.namespace, name: gateway.name }, spec }, routes, (list) => {
      const service = carrier(list, gateway.namespace);
      if (service === undefined) return undefined;
      return { service, options: { [PARENT_ROUTES]: edge.compile(list, gateway, this.refused) } };
    });
  }

  /** The listener on `port` for a request (by SNI when it came over TLS with one, else by Host), and its routes for Host. */
  resolve(port: number, sni: string | undefined, host: string | undefined): RequestListener | undefined {
    const listener = this.#byPort.get(port)?.match(sni ?? host)?.value;
    if (listener === undefined) return undefined;
    return { listener, routes: this.#hosts.get(listener.name)?.match(host)?.value };
  }

  /** The listener whose certificate answers a TLS ClientHello naming `servername` on `port`. */
  listenerFor(port: number, servername: string | undefined): ListenerSpec | undefined {
    return this.#byPort.get(port)?.match(servername)?.value;
  }
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
