/**
 * What an edge of the mesh (the ingress gateway) needs of a started mesh
 * beyond `request`: its Gateway's configuration from the mesh's one watch
 * stream, and its Routes compiled by the client's own compileRoutes against
 * the mesh's destinations, so that a route parented at a Gateway behaves
 * exactly as one parented at a Service (matches, filters, weighted backends,
 * timeouts and retries), and its backends share the endpoints, balancers and
 * outlier state of every other call of the process.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { resolveServiceSpec, type RouteResource } from '../config/resources.js';
import { GatewayConfigWatch } from '../discovery/gateway-config.js';
import type { WatchStream } from '../discovery/watch-stream.js';
import { compileRoutePolicy } from '../client/logical/policy.js';
import { MirrorSender } from '../client/logical/routing/mirror.js';
import { RateLimitBuckets } from '../client/logical/routing/rate-limit.js';
import { compileRoutes, type RouteParent, type RouteTable } from '../client/logical/routing/route-table.js';
import type { Destinations } from './destinations.js';

/** A Gateway has no Service spec of its own: a rule's timeouts and retries merge with the mesh's defaults. */
const NO_SERVICE = resolveServiceSpec(null);

export class EdgeRoutes {
  readonly #stream: WatchStream | undefined;
  readonly #destinations: Destinations;
  readonly #logger: Logger;
  /** Copies that a gateway's routes mirror (RequestMirror), bounded as a destination's are. */
  readonly #mirror = new MirrorSender();
  /** Each Gateway's LocalRateLimit buckets, kept across its compilations (a route change does not refill them). */
  readonly #buckets = new Map<string, RateLimitBuckets>();

  constructor(stream: WatchStream | undefined, destinations: Destinations, logger: Logger) {
    this.#stream = stream;
    this.#destinations = destinations;
    this.#logger = logger;
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
      policy: (rule) => compileRoutePolicy(rule, NO_SERVICE),
    });
  }
}
