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
};
const all = Object.keys(layers);

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
    from: { path: '^src/(index|extend)\\.ts$|^src/(mesh|client|server|discovery|resilience|tls|telemetry)/' },
    to: { path: '^src/(control-plane|cli)/' },
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
    comment: 'src ships to users: it may not import devDependencies (a peer dependency, also a dev one for our tests, is the user\'s to install)',
    severity: 'error',
    from: { path: '^src/' },
    to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['npm-peer'] },
  },
);

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
