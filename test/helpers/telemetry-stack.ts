/**
 * A small client stack with the telemetry filters in the places phase 2 puts
 * them in src/client/stack.ts, over the real MeshDispatcher, Destination,
 * balancer and undici transport, for tests of the telemetry layers before
 * they are wired into the mesh. The retry layer here is a stand-in (the real
 * one belongs to the resilience work): one retry on 503.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import { compose, type Filter } from '../../src/core/filter.js';
import { StaticResolver } from '../../src/discovery/static-resolver.js';
import { WatchCache } from '../../src/discovery/watch-cache.js';
import type { Attempt } from '../../src/client/attempt.js';
import { balance } from '../../src/client/balance.js';
import type { MeshCall } from '../../src/client/call.js';
import { Destination } from '../../src/client/destination.js';
import { MeshDispatcher } from '../../src/client/dispatcher.js';
import { transport } from '../../src/client/transport.js';
import { meshServiceOf, splitUrl } from '../../src/client/url.js';
import { attemptTelemetry, callTelemetry } from '../../src/client/filters/telemetry.js';
import type { MeshTelemetry } from '../../src/telemetry/mesh-telemetry.js';
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

export class TestClient {
  readonly dispatcher: MeshDispatcher;
  #cache: WatchCache;
  #destinations = new Map<string, Destination>();
  #passthrough = new Agent();

  constructor(
    readonly telemetry: MeshTelemetry,
    readonly resolver: StaticResolver,
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
      dest = new Destination({ namespace: 'default', name }, { cache: this.#cache, discoveryTimeoutMs: 2_000 });
      // Phase 2's src/client/stack.ts order: telemetry outermost, retry, balance, attempt telemetry, transport.
      const stack = compose([callTelemetry(this.telemetry, dest), retryOnce503, balance(dest), attemptTelemetry()], transport);
      Object.defineProperty(dest, 'handle', { value: stack });
      this.#destinations.set(name, dest);
    }
    return dest;
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

export interface TestService {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

/** A loopback server whose requests go through the inbound telemetry layer, as wrapServer will run it. */
export async function startTracedServer(t: MeshTelemetry, handler: http.RequestListener): Promise<TestService> {
  const server = http.createServer();
  server.on('request', handler);
  const { dispatch } = instrumentedDispatch(server, (app) => inboundTelemetry(t)(app));
  const plain = server as http.Server & { emit: (event: string | symbol, ...args: unknown[]) => boolean };
  const originalEmit = plain.emit;
  plain.emit = function emit(event: string | symbol, ...args: unknown[]) {
    if (event === 'request') return dispatch(args[0] as http.IncomingMessage, args[1] as http.ServerResponse);
    return originalEmit.call(this, event, ...args);
  };
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
