/**
 * What an edge of the mesh (the ingress gateway) needs of a started mesh
 * beyond `request`: its Gateway's configuration from the mesh's one watch
 * stream, and its Routes compiled by the client's own compileRoutes against
 * the mesh's destinations, so that a route parented at a Gateway behaves
 * exactly as one parented at a Service (matches, filters, weighted backends,
 * timeouts and retries), and its backends share the endpoints, balancers,
 * outlier state, limits and retry budgets of every other call of the process.
 *
 * A Gateway has no Service spec of its own: a rule's timeouts and retries
 * merge with the spec of the backend Service the call goes to (what a direct
 * call to it gets), followed live (logical/rule-policy.ts). Its rules are
 * counted in the edge stats with the Gateway as their parent.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RouteResource } from '../config/resources.js';
import { GatewayConfigWatch } from '../discovery/gateway-config.js';
import type { WatchStream } from '../discovery/watch-stream.js';
import { ruleOverService } from '../client/logical/rule-policy.js';
import { MirrorSender } from '../client/logical/routing/mirror.js';
import { RateLimitBuckets } from '../client/logical/routing/rate-limit.js';
import { compileRoutes, type RouteParent, type RouteTable } from '../client/logical/routing/route-table.js';
import type { CompiledRule } from '../client/logical/routing/rule.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import type { WatchCache } from '../discovery/watch-cache.js';
import type { ServerRegistrar } from '../server/registrar.js';
import type { Destinations } from './destinations.js';

/** What the mesh gateway (src/mesh-gateway) needs besides: services followed as any client does, and its own registration. */
export interface EdgeDiscovery {
  cache: WatchCache;
  /** Undefined without a control plane. */
  registrar: ServerRegistrar | undefined;
}

export class EdgeRoutes {
  readonly #stream: WatchStream | undefined;
  readonly #destinations: Destinations;
  readonly #logger: Logger;
  readonly #telemetry: MeshTelemetry | undefined;
  /** Copies that a gateway's routes mirror (RequestMirror), bounded as a destination's are. */
  readonly #mirror = new MirrorSender();
  /** Each Gateway's LocalRateLimit buckets, kept across its compilations (a route change does not refill them). */
  readonly #buckets = new Map<string, RateLimitBuckets>();
  /** The mesh's watch cache and registrar, for the mesh gateway; undefined in unit tests that build EdgeRoutes alone. */
  readonly discovery: EdgeDiscovery | undefined;

  constructor(stream: WatchStream | undefined, destinations: Destinations, logger: Logger, telemetry?: MeshTelemetry, discovery?: EdgeDiscovery) {
    this.discovery = discovery;
    this.#stream = stream;
    this.#destinations = destinations;
    this.#logger = logger;
    this.#telemetry = telemetry;
  }

  /** The live configuration of Gateway `namespace/name`; needs a control plane (a static resolver has none). */
  watchGateway(namespace: string, name: string): GatewayConfigWatch {
    if (!this.#stream) throw new MeshError(ErrorCode.INVALID_OPTIONS, 'a gateway needs a control plane: its Gateway and Routes come from the watch stream');
    return new GatewayConfigWatch(this.#stream, namespace, name);
  }

  /** The LocalRateLimit buckets of Gateway `parent`, which its compilations share. */
  buckets(parent: RouteParent): RateLimitBuckets {
    const key = `${parent.namespace}/${parent.name}`;
    let buckets = this.#buckets.get(key);
    if (buckets === undefined) this.#buckets.set(key, (buckets = new RateLimitBuckets()));
    return buckets;
  }

  /** `routes` (all attached to `parent`) as one table; a rule that cannot be compiled is left out, and reported in `refused`. */
  compile(routes: readonly RouteResource[], parent: RouteParent, refused: string[] = []): RouteTable {
    return compileRoutes(routes, {
      parent,
      buckets: this.buckets(parent),
      destination: (namespace, name) => this.#destinations.destination(name, namespace),
      mirror: this.#mirror,
      warn: (message) => {
        refused.push(message);
        this.#logger.warn(message, { gateway: `${parent.namespace}/${parent.name}` });
      },
      policy: (rule, backend) => ruleOverService(rule, backend.policy),
    });
  }

  /**
   * Count the calls of `tables` (compiled for Gateway `parent` by compile()) per rule in the edge stats,
   * with the Gateway as their parent; `rules`: every rule of the Gateway's configuration compiled so far (a
   * rule left out is reported until it goes idle). A call no rule matches is counted as the Gateway's
   * `[default]`. Not on the request path: once per compilation.
   */
  count(parent: RouteParent, tables: readonly RouteTable[], rules: Iterable<CompiledRule>): void {
    const edge = this.#telemetry?.traffic.edge(parent.namespace, parent.name, 'Gateway');
    if (edge === undefined) return;
    edge.useRoutes(rules);
    for (const t of tables) t.unmatched = edge.unrouted;
  }
}
