// The dependency direction of ../shared/DESIGN.md ("Layout and dependency direction"),
// enforced by `npm run depcheck` (part of `npm test`): a forbidden import fails the build.
const layers = {
  core: [],
  config: ['core'],
  discovery: ['core', 'config'],
  resilience: ['core'],
  tls: ['core'],
  telemetry: ['core'],
  client: ['core', 'config', 'discovery', 'resilience', 'tls', 'telemetry'],
  server: ['core', 'config', 'resilience', 'tls', 'telemetry'],
  'control-plane': ['core', 'config', 'tls'],
  // The Mesh composes the runtime: everything but the control plane and the CLI.
  mesh: ['core', 'config', 'discovery', 'resilience', 'tls', 'telemetry', 'client', 'server'],
  // The edges of the mesh (docs/architecture.md, "The edges"): forwarding an incoming HTTP request into the
  // mesh, shared by the proxy and the gateway. It takes a Mesh's `dispatcher` through a narrow interface, so it
  // needs no more than the deadline context and the error codes.
  edge: ['core', 'resilience'],
  // `hyphae proxy`: a Mesh, a wrapped server and the edge forwarder, composed; nothing in the runtime imports it.
  proxy: ['core', 'config', 'resilience', 'tls', 'telemetry', 'server', 'mesh', 'edge'],
  // `hyphae gateway`: a Mesh, wrapped servers and the edge forwarder, with the client's route tables
  // (compiled by the mesh, carried by the call); it borrows the proxy's host:port type. Nothing imports it.
  gateway: ['core', 'config', 'discovery', 'resilience', 'tls', 'telemetry', 'client', 'server', 'mesh', 'edge', 'proxy'],
  // `hyphae gateway --mode mesh` (issue 17): a Mesh for its identity, discovery and registration, and a TCP
  // listener that routes TLS by SNI; it reads an endpoint's cluster as the client does. Nothing imports it.
  'mesh-gateway': ['core', 'config', 'discovery', 'telemetry', 'client', 'server', 'mesh', 'proxy'],
  // `hyphae/grpc` (issue 18): grpc-js clients and servers on a Mesh's discovery, balancing, identity, policies
  // and telemetry. Only its own entry point (package.json "exports": ./grpc) loads it, and with it grpc-js.
  grpc: ['core', 'config', 'discovery', 'resilience', 'tls', 'telemetry', 'client', 'server', 'mesh'],
};
const all = Object.keys(layers);

// The modules that nothing imports on purpose: something runs them, or loads them, by path. Every other
// module must be imported by one of ours (no-orphans, no-unimported below).
const entryPoints = [
  // package.json: "exports" (., ./extend, ./control-plane) and "bin" (hyphae)
  '^src/(index|extend)[.]ts$',
  '^src/control-plane/index[.]ts$',
  '^src/grpc/index[.]ts$',
  '^src/cli/main[.]ts$',
  // the dashboard's browser files: served to the page (dashboard-routes.ts), never imported
  '^src/control-plane/dashboard/static/',
  // the test runner (npm test) and the test files it finds by name
  '^test/run[.]ts$',
  '[.]test[.]ts$',
  // test processes that tests start by path (startNode(path.join(buildDir, ...)))
  '^test/helpers/(keepalive-service|keepalive-server|route-probe|modules-probe|client-only-probe|trace-hop-service|grpc-service)[.]ts$',
  // workloads the scenarios start by path in a cluster's network namespace
  '^test/scenarios/fixtures/',
  // benches: each top-level file runs on its own (node build/bench/<name>.js; run.ts runs the set), and
  // the peers they start by path
  '^bench/[^/]+[.]ts$',
  '^bench/lib/(echo-server|bare-proxy|lean-proxy|half-lean-proxy|bare-relay|mtls-echo-server|telemetry-peer|watchers|cost-server|memory-peer|rss-child|server-memory-peer|grpc-echo-server)[.]ts$',
  // module hooks a bench child loads with --import (rss-register registers rss-hooks by URL)
  '^bench/lib/rss-(register|hooks)[.]ts$',
  // examples: runnable services and the demo (README, npm run demo; tests start them by path)
  '^examples/(demo|plugins|lazy-start|control-plane-metrics|proxy|tap|route-traffic|gateway)[.]ts$',
  '^examples/(api|chain|web)/server[.]ts$',
  // the gRPC example's two services (npm run demo -- grpc starts them by path)
  '^examples/grpc/(server|client)[.]ts$',
  '^examples/telemetry/(service|otel)[.]ts$',
  // scripts run by npm scripts or by hand
  '^scripts/',
  // type declarations
  '[.]d[.]ts$',
];

const forbidden = Object.entries(layers).map(([layer, allowed]) => {
  const banned = all.filter((l) => l !== layer && !allowed.includes(l));
  return {
    name: `${layer}-imports-only-${allowed.join('-') || 'nothing'}`,
    comment: `src/${layer} may import only: ${allowed.join(', ') || 'nothing of ours'} (DESIGN.md)`,
    severity: 'error',
    from: { path: `^src/${layer}/` },
    to: { path: `^src/(${banned.join('|')})/` },
  };
});

forbidden.push(
  {
    name: 'runtime-never-loads-control-plane',
    comment: 'a service that only uses the mesh must not load the CA or the dashboard',
    severity: 'error',
    from: { path: '^src/(index|extend)\\.ts$|^src/(mesh|client|server|discovery|resilience|tls|telemetry|edge|proxy|gateway|mesh-gateway|grpc)/' },
    to: { path: '^src/(control-plane|cli)/' },
  },
  {
    name: 'grpc-js-only-in-hyphae-grpc',
    comment: 'grpc-js is an optional peer: only hyphae/grpc (src/grpc) may load it, so a service without gRPC never needs it installed (the control plane gets it with etcd3)',
    severity: 'error',
    from: { path: '^src/', pathNot: '^src/(grpc|control-plane)/' },
    to: { path: 'node_modules/@grpc/' },
  },
  {
    name: 'no-circular',
    comment: 'runtime import cycles; type-only cycles (a call knows its destination and back) erase at compile time',
    severity: 'error',
    from: {},
    to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
  },
  {
    name: 'no-circular-in-client',
    comment:
      'the client tiers (call, logical, concrete, endpoint) import downward only, through narrow interfaces: any import circle inside src/client fails, type-only ones included (a type circle is how a layer ends up depending on the whole destination again)',
    severity: 'error',
    from: { path: '^src/client/' },
    to: { path: '^src/client/', circular: true },
  },
  {
    name: 'no-dev-deps-in-src',
    comment: "src ships to users: it may not import devDependencies (a peer dependency, also a dev one for our tests, is the user's to install)",
    severity: 'error',
    from: { path: '^src/' },
    to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['npm-peer'] },
  },
  {
    name: 'no-orphans',
    comment: 'a module that imports nothing and that nothing imports is dead, unless something runs or loads it by path (entryPoints)',
    severity: 'error',
    from: { orphan: true, pathNot: entryPoints },
    to: {},
  },
  {
    // no-orphans alone misses a module that imports others but that nothing imports (the folder index.ts
    // files issue 15 found): this rule catches those.
    name: 'no-unimported',
    comment: 'nothing imports this module and nothing runs it by path (entryPoints): delete it, or list it there with the reason',
    severity: 'error',
    from: {},
    module: { path: '.', pathNot: entryPoints, numberOfDependentsLessThan: 1 },
  },
);

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    // examples and the package test import hyphae by its name, which resolves to build/ once built: the
    // rules are about the sources, whether or not a build is there.
    exclude: { path: '^build/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
