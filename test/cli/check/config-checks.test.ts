/** Which policies deny everything, and which route backends nothing serves (src/cli/check/config-checks.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policyChecks, routeChecks } from '../../../src/cli/check/config-checks.js';
import { resourceSchema, type Resource } from '../../../src/config/resources.js';

function policy(name: string, spec: unknown): Resource {
  return parse({ apiVersion: 'hyphae.dev/v1', kind: 'AuthorizationPolicy', metadata: { name }, spec });
}

function parse(doc: unknown): Resource {
  // Through the schema, as the control plane stores them: defaults (PathPrefix, weight 1, rules []) filled in.
  return resourceSchema.parse(doc);
}

describe('policyChecks', () => {
  it('fails an ALLOW with no rules and a DENY with a rule matching every request; passes the rest', () => {
    const resources = [
      policy('lockout', { action: 'ALLOW' }),
      policy('deny-all', { action: 'DENY', selector: { service: 'api' }, rules: [{ to: { paths: [{ value: '/admin' }] } }, {}] }),
      policy('deny-root', { action: 'DENY', rules: [{ to: { paths: [{ type: 'PathPrefix', value: '/' }] } }] }),
      policy('deny-admin', { action: 'DENY', rules: [{ to: { paths: [{ value: '/admin' }] } }] }),
      policy('deny-exact-root', { action: 'DENY', rules: [{ to: { paths: [{ type: 'Exact', value: '/' }] } }] }),
      policy('deny-post', { action: 'DENY', rules: [{ to: { paths: [{ value: '/' }], methods: ['POST'] } }] }),
      policy('deny-stranger', { action: 'DENY', rules: [{ from: { namespaces: ['other'] } }] }),
      policy('deny-nothing', { action: 'DENY' }),
      policy('allow-all', { action: 'ALLOW', rules: [{}] }),
    ];
    const r = policyChecks(resources);
    assert.deepEqual(
      r.map((l) => [l.verdict, l.message.split(' (')[0]]),
      [
        ['fail', 'AuthorizationPolicy default/lockout'],
        ['fail', 'AuthorizationPolicy default/deny-all'],
        ['fail', 'AuthorizationPolicy default/deny-root'],
      ],
    );
    assert.match(r[0]!.message, /denies every request to every service in namespace default$/);
    assert.match(r[1]!.message, /spec\.rules\[1\] matches every request\) denies every request to service default\/api$/);
    assert.deepEqual(
      policyChecks(resources.slice(3)).map((l) => l.verdict),
      ['ok'],
    );
  });
});

describe('routeChecks', () => {
  const service = parse({ apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'api' }, spec: { subsets: [{ name: 'v1', labels: { version: 'v1' } }] } });
  const route = (backendRefs: unknown[]) => parse({ apiVersion: 'hyphae.dev/v1', kind: 'Route', metadata: { name: 'r' }, spec: { parentRefs: [{ name: 'api' }], rules: [{ backendRefs }] } });
  const instance = (labels: Record<string, string>) => ({ namespace: 'default', service: 'api', labels }) as never;
  const summary = (instances: never[]) => ({ services: [{ namespace: 'default', name: 'api', instances: instances.length, hasConfig: true }] as never[], instances });

  it('fails a subset no Service defines, a subset no instance carries, a service with none or unknown; skips weight 0', () => {
    const verdicts = (refs: unknown[], instances: never[]) => routeChecks([service, route(refs)], summary(instances)).map((l) => `${l.verdict} ${l.message}`);
    assert.deepEqual(verdicts([{ name: 'api', subset: 'v1' }], [instance({ version: 'v1' })]), ['ok every route sends to instances that exist (1 route)']);
    assert.match(
      verdicts([{ name: 'api', subset: 'v1' }], [instance({ version: 'v2' })])[0]!,
      /^fail .*backendRefs\[0\]: sends to subset "v1" of default\/api \(version=v1\), which no running instance carries$/,
    );
    assert.match(verdicts([{ name: 'api', subset: 'v9' }], [instance({ version: 'v1' })])[0]!, /^fail .*subset "v9" of default\/api, which defines only v1$/);
    assert.match(verdicts([{ name: 'api' }], [])[0]!, /^fail .*sends to default\/api, which has no instances$/);
    assert.match(verdicts([{ name: 'nosuch' }], [])[0]!, /^fail .*sends to default\/nosuch, which is not a known service$/);
    assert.deepEqual(
      verdicts(
        [
          { name: 'api', subset: 'v1', weight: 1 },
          { name: 'api', subset: 'v9', weight: 0 },
        ],
        [instance({ version: 'v1' })],
      ).map((l) => l.split(' ')[0]),
      ['ok'],
    );
  });

  it('a route attached to a Gateway is not warned about as attached to an unknown service', () => {
    const gatewayRoute = parse({
      apiVersion: 'hyphae.dev/v1',
      kind: 'Route',
      metadata: { name: 'edge-api' },
      spec: { parentRefs: [{ kind: 'Gateway', name: 'edge' }], hostnames: ['api.example.com'], rules: [{ backendRefs: [{ name: 'api' }] }] },
    });
    const toUnknown = parse({ apiVersion: 'hyphae.dev/v1', kind: 'Route', metadata: { name: 'lost' }, spec: { parentRefs: [{ name: 'nosuch' }], rules: [{ backendRefs: [{ name: 'api' }] }] } });
    const lines = routeChecks([service, gatewayRoute, toUnknown], summary([instance({ version: 'v1' })])).filter((l) => l.verdict !== 'ok');
    assert.deepEqual(
      lines.map((l) => l.message.split(' (')[0]),
      ['Route default/lost is attached to default/nosuch'],
    );
  });
});
