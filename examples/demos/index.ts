/**
 * The named demos of `npm run demo -- <name>` (issue 19: the seed's demo set).
 * Each module is loaded only when asked for, so the default demo loads none.
 */
import type { DemoOptions } from '../lib/demo-session.js';

export interface DemoEntry {
  summary: string;
  /** Resolves with the exit code. */
  run: (options: DemoOptions) => Promise<number>;
}

export const demos: Record<string, DemoEntry> = {
  routing: { summary: 'a Route sends requests by path and by header to other services', run: async (o) => (await import('./routing.js')).run(o) },
  splitting: { summary: 'a weighted split between two subsets, changed live (100/0, 90/10, 50/50, 0/100)', run: async (o) => (await import('./splitting.js')).run(o) },
  subsets: { summary: "a Service's subsets by label, a default subset, a route to a subset by header", run: async (o) => (await import('./subsets.js')).run(o) },
  locality: { summary: "a zone's instances go away, traffic moves to the other zone, then comes back", run: async (o) => (await import('./locality.js')).run(o) },
  failover: { summary: "two peered clusters: dc1's api goes away, calls fail over to dc2, then come home", run: async (o) => (await import('./cross-cluster.js')).run(o, 'flat') },
  tracing: { summary: 'one request through web -> api -> db with an OpenTelemetry SDK, as a trace tree', run: async (o) => (await import('./tracing.js')).run(o) },
  ingress: { summary: 'an ingress gateway in front of the mesh: routes by hostname, a 90/10 split, mTLS inside', run: async (o) => (await import('./ingress.js')).run(o) },
  grpc: { summary: 'a grpc-js service (3 instances) called from an HTTP service with meshGrpcClient: spread, identity, deadline', run: async (o) => (await import('./grpc.js')).run(o) },
  gateways: { summary: "the failover demo through dc2's mesh gateway (SNI, no decryption): dc2's api sees dc1's web", run: async (o) => (await import('./cross-cluster.js')).run(o, 'gateway') },
};

/** `npm run demo -- <name>`: the exit code (2 for an unknown name, after the list). */
export async function runNamed(name: string, options: DemoOptions): Promise<number> {
  const entry = Object.hasOwn(demos, name) ? demos[name] : undefined;
  if (!entry) {
    console.error(`unknown demo "${name}". The demos (npm run demo -- <name> [--keep]):`);
    console.error(`  ${'(none)'.padEnd(10)} the default: web -> api (3 instances), mTLS, a rolling restart`);
    for (const [n, d] of Object.entries(demos)) console.error(`  ${n.padEnd(10)} ${d.summary}`);
    return 2;
  }
  return entry.run(options);
}
