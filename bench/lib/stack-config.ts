/**
 * The destinations the client-stack benches compare (bench/client-stack.ts over
 * loopback, bench/stack-cost.ts in-process): `full` with the Service's
 * resilience settings and a Route evaluated on every request (a header rule,
 * then a catch-all), and `timed`, the same with request and per-try timeouts.
 */
import { Agent } from 'undici';
import { balance } from '../../src/client/concrete/balance.js';
import type { Destination } from '../../src/client/destination.js';
import { MeshDispatcher } from '../../src/client/dispatcher.js';
import { transport } from '../../src/client/endpoint/transport.js';
import { routeResourceSchema, serviceSpecSchema } from '../../src/config/resources.js';
import { compose } from '../../src/core/filter.js';
import type { StaticResolver } from '../../src/discovery/static-resolver.js';

const RESILIENCE = {
  retries: { attempts: 2 },
  retryBudget: { percent: 20, minPerSecond: 10, window: '10s' },
  outlierDetection: { consecutiveFailures: 5 },
  limits: { maxConcurrent: 1024, maxPending: 1024 },
};

function route(parent: string) {
  return routeResourceSchema.parse({
    apiVersion: 'hyphae.dev/v1',
    kind: 'Route',
    metadata: { name: `${parent}-routes` },
    spec: {
      parentRefs: [{ name: parent }],
      rules: [
        { name: 'canary', matches: [{ headers: [{ name: 'x-canary', value: 'true' }] }], backendRefs: [{ name: parent }] },
        { name: 'default', backendRefs: [{ name: parent }] },
      ],
    },
  });
}

/** Give `full` and `timed` (already known to the resolver) their Service and Route. */
export function configureStackTargets(resolver: StaticResolver): void {
  resolver.configure('full', { config: serviceSpecSchema.parse(RESILIENCE), routes: [route('full')] });
  resolver.configure('timed', { config: serviceSpecSchema.parse({ ...RESILIENCE, timeouts: { request: '2s', perTry: '1s' } }), routes: [route('timed')] });
}

/**
 * A MeshDispatcher over the bench's destinations by origin (`http://<name>`),
 * where `http://skeleton` gets the walking skeleton's stack (balance ->
 * transport) on the same destination machinery in place of the full one.
 */
export function stackDispatcher(dests: Map<string, Destination>): { dispatcher: MeshDispatcher; passthrough: Agent } {
  const skeleton = dests.get('skeleton')!;
  const skeletonTarget = Object.create(skeleton, { handle: { value: compose([balance(skeleton)], transport) } }) as Destination;
  const passthrough = new Agent();
  const dispatcher = new MeshDispatcher(
    { route: (origin) => (origin === 'http://skeleton' ? skeletonTarget : dests.get(String(origin).slice('http://'.length))), passthroughUnknown: false },
    passthrough,
  );
  return { dispatcher, passthrough };
}
