/**
 * The mesh's plug-in points, end to end on this machine: a balancer of your
 * own, selected by a Service's `loadBalancer`, and a filter of your own,
 * placed in the client stack by role. No control plane: a static resolver
 * stands in for discovery (with one, the Service resource says the same).
 *
 *   npm run build && node build/examples/plugins.js
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMesh } from 'hyphae';
import { registerBalancer, StaticResolver, type Balancer, type MeshFilter } from 'hyphae/extend';

// A balancer: always the endpoint with the fewest requests in flight, ties to the first listed. One instance
// per endpoint list (the whole service, each subset, each zone); `pick` runs per attempt and must not allocate.
class FewestInFlight implements Balancer {
  readonly name = 'fewest-in-flight';
  pick(endpoints: Parameters<Balancer['pick']>[0]): ReturnType<Balancer['pick']> {
    let best = endpoints[0];
    for (const ep of endpoints) if (best !== undefined && ep.inflight < best.inflight) best = ep;
    return best;
  }
}
registerBalancer('fewest-in-flight', () => new FewestInFlight());

// A filter placed right before the balancer: it sees every attempt (retries too) with its verdict.
const tries: string[] = [];
const tagTries: MeshFilter = (next) => async (call) => {
  call.addHeaders({ 'x-example-try': String(tries.length + 1) });
  const attempt = await next(call);
  tries.push(`${attempt.statusCode} ${attempt.verdict.failure}`);
  return attempt;
};

// Two instances of a service "api", on ephemeral ports.
const servers = await Promise.all(
  ['a', 'b'].map(
    (name) =>
      new Promise<{ server: http.Server; port: number }>((resolve) => {
        const server = http.createServer((req, res) => res.end(`${name} try=${String(req.headers['x-example-try'])}`));
        server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port }));
      }),
  ),
);

const resolver = new StaticResolver({ api: servers.map((s) => ({ address: '127.0.0.1', port: s.port })) });
// What a Service resource would say: `spec: { loadBalancer: fewest-in-flight }`.
resolver.configure('api', { config: { loadBalancer: 'fewest-in-flight' } });
const mesh = await createMesh({ resolver, filters: [{ before: 'balance', filter: tagTries }] });

for (let i = 0; i < 3; i++) {
  const res = await mesh.request('http://api/');
  console.log(`answer: ${await res.body.text()}`);
}
console.log(`tries seen by the filter: ${tries.join(', ')}`);
await mesh.close();
for (const s of servers) s.server.close();
console.log('plugins ok');
