/** Route parentRefs (Service or Gateway), hostnames and the LocalRateLimit filter, at the schema. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { routeResourceSchema } from '../../../src/config/resources.js';
import { toIssues } from '../../../src/config/validate.js';

const doc = (spec: Record<string, unknown>) => ({
  apiVersion: 'hyphae.dev/v1',
  kind: 'Route',
  metadata: { name: 'r' },
  spec: { rules: [{ backendRefs: [{ name: 'api' }] }], ...spec },
});

function issues(spec: Record<string, unknown>): Record<string, string> {
  const r = routeResourceSchema.safeParse(doc(spec));
  assert.equal(r.success, false, 'expected a refusal');
  return Object.fromEntries(toIssues(r.error!).map((i) => [i.path, i.message]));
}

const RATE = { type: 'LocalRateLimit', localRateLimit: { requests: 100, unit: 'Minute' } };

describe('Route parents, hostnames and rate limits', () => {
  it('keeps a Service parent as written: no kind is added, so stored routes and snapshots keep their shape', () => {
    const r = routeResourceSchema.parse(doc({ parentRefs: [{ name: 'api' }] }));
    assert.deepEqual(r.spec.parentRefs, [{ name: 'api' }]);
    assert.equal('hostnames' in r.spec, false);
  });

  it('takes Gateway parents with a sectionName, hostnames and a LocalRateLimit filter', () => {
    const r = routeResourceSchema.parse(
      doc({
        parentRefs: [{ kind: 'Gateway', name: 'edge', namespace: 'infra', sectionName: 'https' }],
        hostnames: ['shop.example.com', '*.shop.example.com'],
        rules: [{ filters: [RATE], backendRefs: [{ name: 'api' }] }],
      }),
    );
    assert.deepEqual(r.spec.parentRefs[0], { kind: 'Gateway', name: 'edge', namespace: 'infra', sectionName: 'https' });
    assert.deepEqual(r.spec.rules[0]!.filters, [RATE]);
  });

  it('refuses hostnames when every parent is a Service (they would do nothing), but not beside a Gateway parent', () => {
    assert.match(issues({ parentRefs: [{ name: 'api' }, { kind: 'Service', name: 'web' }], hostnames: ['a.example.com'] })['spec.hostnames']!, /Gateway parents only/);
    assert.doesNotThrow(() => routeResourceSchema.parse(doc({ parentRefs: [{ name: 'api' }, { kind: 'Gateway', name: 'edge' }], hostnames: ['a.example.com'] })));
  });

  it('refuses a LocalRateLimit on a route with a Service parent, whose callers would not apply it', () => {
    const got = issues({ parentRefs: [{ kind: 'Gateway', name: 'edge' }, { name: 'api' }], rules: [{ backendRefs: [{ name: 'api' }] }, { filters: [RATE], backendRefs: [{ name: 'api' }] }] });
    assert.match(got['spec.rules[1].filters[0]']!, /enforced by gateways, and parentRefs\[1\] is a Service/);
  });

  it('refuses bad hostnames, more than 16, sectionName on a Service, unknown kinds and bad rate limits', () => {
    const got = issues({
      parentRefs: [
        { name: 'api', sectionName: 'http' },
        { kind: 'Mesh', name: 'x' },
        { kind: 'Gateway', name: 'edge' },
      ],
      hostnames: ['Bad.example.com', '*.ok.com', 'a.*.com'],
      rules: [{ filters: [{ type: 'LocalRateLimit', localRateLimit: { requests: 0, unit: 'Day' } }], backendRefs: [{ name: 'api' }] }],
    });
    assert.match(got['spec.parentRefs[0].sectionName']!, /only with kind: Gateway/);
    assert.ok(got['spec.parentRefs[1].kind']);
    assert.match(got['spec.hostnames[0]']!, /lower case/);
    assert.match(got['spec.hostnames[2]']!, /wildcard/);
    assert.ok(got['spec.rules[0].filters[0].localRateLimit.requests']);
    assert.ok(got['spec.rules[0].filters[0].localRateLimit.unit']);
    const many = Array.from({ length: 17 }, (_, i) => `h${i}.example.com`);
    assert.ok(issues({ parentRefs: [{ kind: 'Gateway', name: 'edge' }], hostnames: many })['spec.hostnames']);
  });
});
