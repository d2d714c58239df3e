/** The compiled policy set on its own: the authorization table, plus what the schema refuses. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authorizationPolicyResourceSchema } from '../../../src/config/resources.js';
import { normalizeTarget, pathOf, type SemicolonMode } from '../../../src/server/authz/normalize-path.js';
import { compilePolicies } from '../../../src/server/authz/policy-set.js';
import { CASES, policy, probeName, type Probe } from './authz-cases.js';

function outcome(set: ReturnType<typeof compilePolicies>, p: Probe): string {
  const url = normalizeTarget(p.target);
  assert.equal(typeof url, 'string', `${p.target} is a valid target`);
  const raw = (p.headers ?? []).flat();
  const d = set.check(p.method ?? 'GET', pathOf(url as string), p.peer, raw);
  return d === undefined ? 'allow' : `deny:${d.policy ?? 'default'}`;
}

describe('policy set: the authorization table', () => {
  let probes = 0;
  for (const c of CASES) {
    it(c.name, () => {
      const set = compilePolicies(c.policies);
      const got = c.probes.map((p) => `${probeName(p)} -> ${outcome(set, p)}`);
      const want = c.probes.map((p) => `${probeName(p)} -> ${p.expect}`);
      assert.deepEqual(got, want);
      probes += c.probes.length;
    });
  }
  it('covers every probe', () => {
    const total = CASES.reduce((n, c) => n + c.probes.length, 0);
    assert.equal(probes, total);
    console.log(`# authorization table (compiled set): ${CASES.length} cases, ${total} probes, all as expected`);
  });

  it('a denial names the DENY policy but the reason sent to callers does not', () => {
    const set = compilePolicies([policy('secret-name', 'DENY', [{}])]);
    const d = set.check('GET', '/', undefined, []);
    assert.equal(d?.policy, 'default/secret-name');
    assert.doesNotMatch(d!.reason, /secret-name/);
  });

  it('a DENY path with a `;`: strip covers the path such a request is handled as; reject and an ALLOW never match; keep matches as written', () => {
    const policies = [
      policy('no-internal', 'DENY', [{ to: { paths: [{ type: 'PathPrefix', value: '/internal;v=1' }] } }]),
      policy('matrix', 'ALLOW', [{ to: { paths: [{ type: 'Exact', value: '/cars;color=red' }] } }, { to: { paths: [{ type: 'PathPrefix', value: '/' }], methods: ['GET'] } }]),
    ];
    const probe = (mode: SemicolonMode, method: string, target: string) => {
      const url = normalizeTarget(target, mode);
      if (typeof url !== 'string') return '400';
      const d = compilePolicies(policies, mode).check(method, pathOf(url), undefined, []);
      return d === undefined ? 'allow' : `deny:${d.policy ?? 'default'}`;
    };
    const table: [SemicolonMode, string, string, string][] = [
      ['strip', 'GET', '/internal', 'deny:default/no-internal'],
      ['strip', 'GET', '/internal;v=1', 'deny:default/no-internal'],
      ['strip', 'GET', '/INTERNAL;v=2/x', 'deny:default/no-internal'],
      ['strip', 'POST', '/cars;color=red', 'deny:default'],
      ['strip', 'POST', '/cars', 'deny:default'],
      ['reject', 'GET', '/internal', 'allow'],
      ['reject', 'GET', '/internal;v=1', '400'],
      ['reject', 'POST', '/cars;color=red', '400'],
      ['keep', 'GET', '/internal', 'allow'],
      ['keep', 'GET', '/internal;v=1', 'deny:default/no-internal'],
      ['keep', 'GET', '/internal;v=1/x', 'deny:default/no-internal'],
      ['keep', 'POST', '/cars;color=red', 'allow'],
      ['keep', 'POST', '/cars;color=blue', 'deny:default'],
    ];
    assert.deepEqual(
      table.map(([mode, method, target]) => `${mode} ${method} ${target} -> ${probe(mode, method, target)}`),
      table.map(([mode, method, target, want]) => `${mode} ${method} ${target} -> ${want}`),
    );
  });

  it('a policy path is matched in normalized form (unreserved escapes decoded, hex upper case)', () => {
    const set = compilePolicies([policy('tilde', 'DENY', [{ to: { paths: [{ type: 'Exact', value: '/%7euser/a%c3%a9' }] } }])]);
    assert.notEqual(set.check('GET', pathOf(normalizeTarget('/~user/a%C3%A9') as string), undefined, []), undefined);
    assert.notEqual(set.check('GET', pathOf(normalizeTarget('/%7Euser/a%c3%a9') as string), undefined, []), undefined);
  });
});

describe('AuthorizationPolicy schema', () => {
  const parse = (rules: unknown[], action = 'ALLOW') =>
    authorizationPolicyResourceSchema.safeParse({ apiVersion: 'hyphae.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p' }, spec: { action, rules } });
  const messages = (rules: unknown[]) => {
    const r = parse(rules);
    assert.equal(r.success, false, `expected ${JSON.stringify(rules)} to be refused`);
    return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
  };

  it('refuses policy paths a normalized request can never have, each with the reason', () => {
    const bad: [string, RegExp][] = [
      ['/a/../admin', /dot segments/],
      ['/a/./b', /dot segments/],
      ['/a/%2e%2E/b', /dot segments/],
      ['//admin', /"\/\/"/],
      ['/a//b', /"\/\/"/],
      ['/a%2Fb', /%2F/],
      ['/a%5cb', /%5C/],
      ['/a%00', /%00/],
      ['/a%zz', /malformed/],
      ['/a%2', /malformed/],
      ['/a\\b', /backslash/],
      ['/a?x=1', /query/],
      ['/a#f', /query or fragment/],
      ['/a b', /control/],
      ['admin', /start/i],
    ];
    for (const [value, re] of bad) assert.match(messages([{ to: { paths: [{ value }] } }]), re, value);
    for (const value of ['/', '/admin', '/admin/', '/a..b/.c', '/%7Euser', '/a%20b']) assert.equal(parse([{ to: { paths: [{ value }] } }]).success, true, value);
  });

  it('refuses empty lists and empty from/to, which would read as "anyone" to some and "no one" to others', () => {
    assert.match(messages([{ from: {} }]), /from must set at least one field/);
    assert.match(messages([{ to: {} }]), /to must set at least one field/);
    assert.match(messages([{ from: { principals: [] } }]), /principals/);
    assert.match(messages([{ to: { methods: [] } }]), /methods/);
    assert.match(messages([{ when: { headers: [] } }]), /headers/);
  });

  it('refuses principals that are not *, a SPIFFE ID or a prefix ending in *', () => {
    assert.match(messages([{ from: { principals: ['web'] } }]), /SPIFFE/);
    assert.match(messages([{ from: { principals: ['spiffe://td/ns/*/sa/web'] } }]), /SPIFFE/);
    assert.equal(parse([{ from: { principals: ['*', 'spiffe://td/ns/a/sa/b', 'spiffe://td/ns/a/*'] } }]).success, true);
  });

  it('lower-cases header names and defaults path type to PathPrefix', () => {
    const r = parse([{ to: { paths: [{ value: '/a' }] }, when: { headers: [{ name: 'X-Tenant', values: ['a'] }] } }]);
    assert.equal(r.success, true);
    assert.deepEqual(r.data!.spec.rules[0]!.to!.paths, [{ type: 'PathPrefix', value: '/a' }]);
    assert.equal(r.data!.spec.rules[0]!.when!.headers[0]!.name, 'x-tenant');
  });
});
