/**
 * Phase-1 wiring of the telemetry layers, by hand: a client stack with the
 * telemetry filters where src/client/stack.ts will put them (over the real
 * MeshDispatcher, Destination, balancer and undici transport), and servers
 * whose requests go through the inbound telemetry layer as wrapServer will
 * run it. Used by examples/telemetry and by the tests until the mesh wires
 * these layers itself; the retry and route layers here are stand-ins for the
 * resilience and routing work.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import { compose, type Filter } from '../../src/core/filter.js';
import type { Resolver } from '../../src/discovery/resolver.js';
import { WatchCache } from '../../src/discovery/watch-cache.js';
import type { Attempt } from '../../src/client/attempt.js';
import { balance } from '../../src/client/balance.js';
import type { MeshCall } from '../../src/client/call.js';
import { Destination } from '../../src/client/destination.js';
import { MeshDispatcher } from '../../src/client/dispatcher.js';
import { transport } from '../../src/client/transport.js';
import { meshServiceOf, splitUrl } from '../../src/client/url.js';
import { attemptTelemetry, callTelemetry } from '../../src/client/filters/telemetry.js';
import type { EndpointState, MeshTelemetry } from '../../src/telemetry/mesh-telemetry.js';
import { inboundTelemetry } from '../../src/server/telemetry-layer.js';
import { instrumentedDispatch } from '../../src/server/instrumented-emit.js';

/** Stand-in retry: a 503 is tried once more (on the next endpoint the balancer picks). */
export const retryOnce503: Filter<MeshCall, Attempt> = (next) => async (call) => {
  for (;;) {
    const attempt = await next(call);
    if (attempt.statusCode !== 503 || call.attempt >= 1) return attempt;
    attempt.discard();
    call.attempt++;
  }
};

/** Stand-in route matching: every call of a destination matches its one rule, `<service>-default`. */
export function namedRoute(name: string): Filter<MeshCall, Attempt> {
  return (next) => (call) => {
    call.telemetry?.setRoute(name);
    return next(call);
  };
}

export class TelemetryClient {
  readonly dispatcher: MeshDispatcher;
  #cache: WatchCache;
  #destinations = new Map<string, Destination>();
  #passthrough = new Agent();

  constructor(
    readonly telemetry: MeshTelemetry,
    readonly resolver: Resolver,
    readonly options: { routeNames?: boolean; discoveryTimeoutMs?: number } = {},
  ) {
    this.#cache = new WatchCache(resolver);
    this.dispatcher = new MeshDispatcher(
      {
        route: (origin) => {
          const service = meshServiceOf(typeof origin === 'string' ? origin : (origin?.origin ?? ''));
          return service ? this.#destination(service) : undefined;
        },
        passthroughUnknown: false,
      },
      this.#passthrough,
    );
  }

  #destination(name: string): Destination {
    let dest = this.#destinations.get(name);
    if (!dest) {
      dest = new Destination({ namespace: 'default', name }, { cache: this.#cache, discoveryTimeoutMs: this.options.discoveryTimeoutMs ?? 2_000 });
      // Phase 2's src/client/stack.ts order: telemetry outermost, (deadline), route, retry, balance, attempt telemetry, transport.
      const layers: Filter<MeshCall, Attempt>[] = [callTelemetry(this.telemetry, dest)];
      if (this.options.routeNames) layers.push(namedRoute(`${name}-default`));
      layers.push(retryOnce503, balance(dest), attemptTelemetry());
      Object.defineProperty(dest, 'handle', { value: compose(layers, transport) });
      this.#destinations.set(name, dest);
    }
    return dest;
  }

  /** What this client knows of each destination's endpoints, for the endpoint-state gauge and stats. */
  *endpointStates(): Iterable<EndpointState> {
    // No outlier detection in phase 1: every endpoint discovery lists is healthy.
    for (const d of this.#destinations.values()) for (const e of d.endpoints.list) yield { service: d.name, namespace: d.namespace, id: e.id, state: 'healthy' };
  }

  request(url: string, opts: Partial<Dispatcher.RequestOptions> = {}): Promise<Dispatcher.ResponseData> {
    const { origin, path } = splitUrl(url);
    return this.dispatcher.request({ method: 'GET', ...opts, origin, path } as Dispatcher.RequestOptions);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#destinations.values()].map((d) => d.close()));
    await this.#cache.close();
    await this.#passthrough.close();
  }
}

export interface TracedServer {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

/** An http.Server whose requests run through the inbound telemetry layer, inside any HTTP instrumentation's span. */
export function traceServer(t: MeshTelemetry, server: http.Server): http.Server {
  const { dispatch } = instrumentedDispatch(server, (app) => inboundTelemetry(t)(app));
  const plain = server as http.Server & { emit: (event: string | symbol, ...args: unknown[]) => boolean };
  const originalEmit = plain.emit;
  plain.emit = function emit(event: string | symbol, ...args: unknown[]) {
    if (event === 'request') return dispatch(args[0] as http.IncomingMessage, args[1] as http.ServerResponse);
    return originalEmit.call(this, event, ...args);
  };
  return server;
}

/** A loopback server (port 0) with the inbound telemetry layer. */
export async function startTracedServer(t: MeshTelemetry, handler: http.RequestListener): Promise<TracedServer> {
  const server = traceServer(t, http.createServer());
  server.on('request', handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
