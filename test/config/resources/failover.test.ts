/** Service.spec.failover and a route backendRef's cluster (issue 17), at the schema. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveServiceSpec, routeResourceSchema, serviceSpecSchema } from '../../../src/config/resources.js';
import { toIssues } from '../../../src/config/validate.js';

function refused(schema: { safeParse(v: unknown): { success: boolean; error?: unknown } }, value: unknown): Record<string, string> {
  const r = schema.safeParse(value);
  assert.equal(r.success, false, `expected a refusal of ${JSON.stringify(value)}`);
  return Object.fromEntries(toIssues(r.error as Parameters<typeof toIssues>[0]).map((i) => [i.path, i.message]));
}

describe('Service.spec.failover', () => {
  it('keeps the ordered list as written, and leaves it absent when not written (absent and empty differ)', () => {
    const spec = serviceSpecSchema.parse({ failover: [{ cluster: 'dc2' }, { cluster: 'dc3' }] });
    assert.deepEqual(spec.failover, [{ cluster: 'dc2' }, { cluster: 'dc3' }]);
    assert.deepEqual(resolveServiceSpec(spec).failover, [{ cluster: 'dc2' }, { cluster: 'dc3' }]);
    assert.equal('failover' in serviceSpecSchema.parse({}), false, 'stored specs keep their shape');
    assert.equal(resolveServiceSpec(null).failover, undefined);
    assert.deepEqual(resolveServiceSpec(serviceSpecSchema.parse({ failover: [] })).failover, []);
  });

  it('refuses a cluster listed twice, a name that is not a DNS label, unknown fields and more than 16 entries', () => {
    assert.match(refused(serviceSpecSchema, { failover: [{ cluster: 'dc2' }, { cluster: 'dc2' }] })['failover[1].cluster']!, /listed twice/);
    assert.match(refused(serviceSpecSchema, { failover: [{ cluster: 'DC_2' }] })['failover[0].cluster']!, /DNS label/);
    assert.ok(refused(serviceSpecSchema, { failover: [{ cluster: 'dc2', weight: 1 }] })['failover[0].weight'] === 'unknown field');
    assert.ok(refused(serviceSpecSchema, { failover: ['dc2'] })['failover[0]'] !== undefined);
    const many = Array.from({ length: 17 }, (_, i) => ({ cluster: `dc${i}` }));
    assert.ok(refused(serviceSpecSchema, { failover: many })['failover'] !== undefined);
  });
});

describe('Route backendRef cluster', () => {
  const route = (ref: Record<string, unknown>) => ({
    apiVersion: 'hyphae.dev/v1',
    kind: 'Route',
    metadata: { name: 'r' },
    spec: { parentRefs: [{ name: 'api' }], rules: [{ backendRefs: [ref] }] },
  });

  it('takes a cluster beside a subset, and no field when none is written', () => {
    const r = routeResourceSchema.parse(route({ name: 'api', subset: 'v2', cluster: 'dc2', weight: 3 }));
    assert.deepEqual(r.spec.rules[0]!.backendRefs[0], { name: 'api', subset: 'v2', cluster: 'dc2', weight: 3 });
    assert.equal('cluster' in routeResourceSchema.parse(route({ name: 'api' })).spec.rules[0]!.backendRefs[0]!, false);
  });

  it('refuses a cluster that is not a DNS label', () => {
    assert.ok(refused(routeResourceSchema, route({ name: 'api', cluster: 'dc2.example' }))['spec.rules[0].backendRefs[0].cluster'] !== undefined);
    assert.ok(refused(routeResourceSchema, route({ name: 'api', cluster: '' }))['spec.rules[0].backendRefs[0].cluster'] !== undefined);
  });
});
