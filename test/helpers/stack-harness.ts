import type { Balancer } from '../../src/client/concrete/balancer.js';
import type { Endpoint } from '../../src/client/endpoint/endpoint.js';
import { serviceSpecSchema } from '../../src/config/resources.js';
/**
 * A client stack composed in the test (src/core/filter.ts compose()) over
 * REAL loopback servers: a real Destination fed by a StaticResolver, the real
 * balance() layer and transport (undici pools), behind the real
 * MeshDispatcher, so undici.request/fetch go through it exactly as through
 * the mesh. Used until the resilience layers are assembled in
 * src/client/stack.ts.
 */
import { Agent, type Dispatcher } from 'undici';
import { compose, type Filter } from '../../src/core/filter.js';
import type { Attempt } from '../../src/client/endpoint/attempt.js';
import { balance } from '../../src/client/concrete/balance.js';
import type { MeshCall } from '../../src/client/call/mesh-call.js';
import { Destination } from '../../src/client/destination.js';
import { MeshDispatcher } from '../../src/client/dispatcher.js';
import { transport } from '../../src/client/endpoint/transport.js';
import { StaticResolver, type StaticEndpoint } from '../../src/discovery/static-resolver.js';
import { WatchCache } from '../../src/discovery/watch-cache.js';

/** Round robin from the first listed endpoint (the test's order). */
class InOrder implements Balancer {
  readonly name = 'test_in_order';
  #cursor = 0;
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined {
    return endpoints.length === 0 ? undefined : endpoints[this.#cursor++ % endpoints.length];
  }
}

export interface Harness {
  dispatcher: Dispatcher;
  dest: Destination;
  resolver: StaticResolver;
  close(): Promise<void>;
}

/** `layers(dest)` go above balance(dest); `below` between balance and the transport (endpoint tier). */
export async function stackHarness(endpoints: StaticEndpoint[], layers: (dest: Destination) => { above: Filter<MeshCall, Attempt>[]; below?: Filter<MeshCall, Attempt>[] }): Promise<Harness> {
  const resolver = new StaticResolver({ api: endpoints });
  // Round robin, so that tests can say which endpoint each attempt reaches.
  resolver.configure('api', { config: serviceSpecSchema.parse({ loadBalancer: 'round_robin' }) });
  const cache = new WatchCache(resolver);
  const dest = new Destination({ namespace: 'default', name: 'api' }, { cache, discoveryTimeoutMs: 2_000 });
  // Once discovery has answered (and configured the views), rotate in the listed order from the first
  // endpoint: tests name which endpoint each attempt reaches. Real round robin starts at a random place.
  await dest.whenReady({ setOnAbort: () => {} });
  dest.endpoints.configure({ policy: { newBalancer: () => new InOrder(), locality: undefined } });
  const { above, below = [] } = layers(dest);
  const handle = compose([...above, balance(dest), ...below], transport);
  // The dispatcher runs target.handle(call); everything else is read from the real destination.
  const target = Object.create(dest, { handle: { value: handle } }) as Destination;
  const passthrough = new Agent();
  const dispatcher = new MeshDispatcher({ route: () => target, passthroughUnknown: false }, passthrough);
  return {
    dispatcher,
    dest,
    resolver,
    async close() {
      await dest.close();
      await cache.close();
      await passthrough.close();
    },
  };
}
