/**
 * The services this process calls, by origin: a mesh service's origin
 * (`http://api`) gets its Destination, made on first use and shared; any other
 * origin passes through (or is refused when passthrough is 'deny'). The
 * dispatcher asks once per call; the answer per origin is cached.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { WatchCache } from '../discovery/watch-cache.js';
import type { MtlsMode } from '../config/resources.js';
import { Destination } from '../client/destination.js';
import type { DispatchRouter } from '../client/dispatcher.js';
import { rawPlainPoolFactory, type PoolFactory } from '../client/endpoint/endpoint.js';
import type { Http1Transport } from '../client/endpoint/pool.js';
import { meshServiceOf } from '../client/call/url.js';
import type { ClientEventSink } from '../client/events.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import type { ResolvedMeshOptions } from './options.js';

const DENY = Symbol('passthrough denied');
type Route = Destination | typeof DENY | undefined;

export interface DestinationDeps {
  options: ResolvedMeshOptions;
  cache: WatchCache;
  logger: Logger;
  events: ClientEventSink;
  telemetry: MeshTelemetry | undefined;
  /** mTLS: the pool factory of a destination (its mode read per connection); undefined for a plain mesh. */
  poolFactory: ((service: { namespace: string; name: string; mode: () => MtlsMode; transport: Http1Transport }) => PoolFactory) | undefined;
  /** This process's cluster as its control plane names it; undefined while unknown (no control plane, or an older one). */
  localCluster?: (() => string | undefined) | undefined;
}

export class Destinations implements DispatchRouter {
  readonly passthroughUnknown: boolean;
  #deps: DestinationDeps;
  #byName = new Map<string, Destination>();
  #byOrigin = new Map<string, Route>();
  #closed = false;

  constructor(deps: DestinationDeps) {
    this.#deps = deps;
    this.passthroughUnknown = deps.options.unknownServices === 'passthrough';
  }

  /** The control plane named this process's cluster (or another one): tiers and pinned backends are built again. */
  localClusterChanged(): void {
    for (const dest of this.#byName.values()) dest.localClusterChanged();
  }

  /** The destinations made so far (diagnostics, telemetry gauges). */
  values(): IterableIterator<Destination> {
    return this.#byName.values();
  }

  get(service: string, namespace: string = this.#deps.options.namespace): Destination | undefined {
    return this.#byName.get(`${namespace}/${service}`);
  }

  route(origin: string | URL | undefined): Destination | MeshError | undefined {
    if (this.#closed) return new MeshError(ErrorCode.MESH_CLOSED, 'the mesh was closed', { rejected: true });
    const key = typeof origin === 'string' ? origin : (origin?.origin ?? '');
    let route = this.#byOrigin.get(key);
    if (route === undefined && !this.#byOrigin.has(key)) {
      const service = meshServiceOf(key);
      route = service ? this.destination(service) : this.#deps.options.passthrough === 'deny' ? DENY : undefined;
      // Origins are few in practice; the bound only guards against a caller that invents them.
      if (this.#byOrigin.size >= 10_000) this.#byOrigin.clear();
      this.#byOrigin.set(key, route);
    }
    if (route === DENY) {
      return new MeshError(ErrorCode.PASSTHROUGH_DENIED, `${key} is not a mesh service and passthrough is set to deny`, {
        rejected: true,
        details: { origin: key },
      });
    }
    return route;
  }

  destination(name: string, namespace: string = this.#deps.options.namespace): Destination {
    const ref = `${namespace}/${name}`;
    let dest = this.#byName.get(ref);
    if (!dest) {
      const d = this.#deps;
      const poolFactory = d.poolFactory;
      dest = new Destination(
        { namespace, name },
        {
          cache: d.cache,
          discoveryTimeoutMs: d.options.discoveryTimeoutMs,
          // Traffic management: the caller's zone (locality), and other services that routes split to.
          callerLabels: d.options.labels,
          localCluster: d.localCluster,
          destinations: (ns, n) => this.destination(n, ns),
          logger: d.logger,
          events: d.events,
          filters: d.options.filters,
          telemetry: d.telemetry,
          // mTLS: each new connection reads the destination's mode and the current certificate.
          ...(poolFactory
            ? { poolFactoryFor: (dd: Destination) => poolFactory({ namespace: dd.namespace, name: dd.name, mode: () => modeOf(dd), transport: d.options.http1Transport }) }
            : d.options.http1Transport === 'raw'
              ? { poolFactory: rawPlainPoolFactory }
              : {}),
        },
      );
      this.#byName.set(ref, dest);
    }
    return dest;
  }

  /** The mesh is closing: every call from now on fails with HYPHAE_ERR_MESH_CLOSED (servers may still be draining). */
  refuseNew(): void {
    this.#closed = true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#byOrigin.clear();
    await Promise.all([...this.#byName.values()].map((d) => d.close()));
    this.#byName.clear();
  }
}

/**
 * Only asked when the mesh has a certificate. A destination whose mode is not known (a resolver that
 * carries no config) gets mTLS: failing closed, since plaintext would skip the server identity check.
 */
function modeOf(d: Destination): MtlsMode {
  return (d.state.status === 'ready' ? d.state.mtlsMode : null) ?? 'STRICT';
}
