/** Route matching and Gateway API precedence, on compiled tables (no network). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rewritePath } from '../../../../src/client/logical/routing/rule.js';
import { callOf, compile, matched, route, rule } from './helpers.js';

describe('route matching', () => {
  it('PathPrefix matches element by element: /v1 takes /v1, /v1/ and /v1/x but not /v10; a trailing slash in the prefix is ignored', () => {
    const t = compile([route('r', [rule('v1', [{ path: { type: 'PathPrefix', value: '/v1/' } }])])]);
    for (const p of ['/v1', '/v1/', '/v1/items', '/v1?x=1', '/v1/a/b?c']) assert.equal(matched(t, p), 'v1', p);
    for (const p of ['/v10', '/v', '/', '/x/v1', '/V1']) assert.equal(matched(t, p), undefined, p);
  });

  it('Exact ignores the query string; RegularExpression must match the whole path', () => {
    const t = compile([route('r', [rule('exact', [{ path: { type: 'Exact', value: '/health' } }]), rule('regex', [{ path: { type: 'RegularExpression', value: '/users/[0-9]+' } }])])]);
    assert.equal(matched(t, '/health?verbose=1'), 'exact');
    assert.equal(matched(t, '/health/'), undefined);
    assert.equal(matched(t, '/users/42'), 'regex');
    assert.equal(matched(t, '/users/42/orders'), undefined, 'anchored: a regex is not a prefix');
    assert.equal(matched(t, '/x/users/42'), undefined);
  });

  it('headers: Exact, RegularExpression and Present, names in any case, from objects, flat arrays and pair iterables', () => {
    const t = compile([
      route('r', [
        rule('exact', [{ headers: [{ name: 'X-Canary', value: 'true' }] }]),
        rule('regex', [{ headers: [{ type: 'RegularExpression', name: 'x-user', value: 'admin-[a-z]+' }] }]),
        rule('present', [{ headers: [{ type: 'Present', name: 'x-debug' }] }]),
      ]),
    ]);
    assert.equal(matched(t, '/', { headers: { 'x-canary': 'true' } }), 'exact');
    assert.equal(matched(t, '/', { headers: { 'X-CANARY': 'true' } }), 'exact');
    assert.equal(matched(t, '/', { headers: ['X-Canary', 'true'] }), 'exact');
    assert.equal(matched(t, '/', { headers: new Map([['x-canary', 'true']]) as unknown as string[] }), 'exact');
    assert.equal(matched(t, '/', { headers: { 'x-canary': 'TRUE' } }), undefined, 'values are case-sensitive');
    assert.equal(matched(t, '/', { headers: { 'x-user': 'admin-bob' } }), 'regex');
    assert.equal(matched(t, '/', { headers: { 'x-user': 'admin-bob2' } }), undefined);
    assert.equal(matched(t, '/', { headers: { 'x-debug': '' } }), 'present');
    assert.equal(matched(t, '/', { headers: null }), undefined);
  });

  it('query parameters: the first value counts, values are decoded; method matches', () => {
    const t = compile([
      route('r', [rule('q', [{ queryParams: [{ name: 'tier', value: 'gold plus' }] }]), rule('qp', [{ queryParams: [{ type: 'Present', name: 'debug' }] }]), rule('post', [{ method: 'POST' }])]),
    ]);
    assert.equal(matched(t, '/?tier=gold%20plus'), 'q');
    assert.equal(matched(t, '/?tier=gold+plus&tier=silver'), 'q');
    assert.equal(matched(t, '/?tier=silver&tier=gold+plus'), undefined, 'first value only (Gateway API)');
    assert.equal(matched(t, '/a?debug'), 'qp');
    assert.equal(matched(t, '/', { method: 'POST' }), 'post');
    assert.equal(matched(t, '/', { method: 'post' as 'POST' }), 'post');
    assert.equal(matched(t, '/', { method: 'GET' }), undefined);
  });

  it('all conditions of one match must hold; any match of a rule will do', () => {
    const t = compile([
      route('r', [rule('both', [{ path: { type: 'PathPrefix', value: '/api' }, method: 'PUT', headers: [{ name: 'x-a', value: '1' }] }, { path: { type: 'Exact', value: '/other' } }])]),
    ]);
    assert.equal(matched(t, '/api/x', { method: 'PUT', headers: { 'x-a': '1' } }), 'both');
    assert.equal(matched(t, '/api/x', { method: 'PUT' }), undefined);
    assert.equal(matched(t, '/api/x', { method: 'GET', headers: { 'x-a': '1' } }), undefined);
    assert.equal(matched(t, '/other'), 'both');
  });
});

describe('route precedence (Gateway API)', () => {
  it('Exact before RegularExpression before PathPrefix, whatever the order in the route', () => {
    const t = compile([
      route('r', [
        rule('prefix', [{ path: { type: 'PathPrefix', value: '/users' } }]),
        rule('regex', [{ path: { type: 'RegularExpression', value: '/users/.*' } }]),
        rule('exact', [{ path: { type: 'Exact', value: '/users/me' } }]),
      ]),
    ]);
    assert.equal(matched(t, '/users/me'), 'exact');
    assert.equal(matched(t, '/users/42'), 'regex');
    assert.equal(matched(t, '/users'), 'prefix');
  });

  it('the longest prefix wins, then a method match, then more header matches, then more query matches', () => {
    const t = compile([
      route('r', [
        rule('short', [{ path: { type: 'PathPrefix', value: '/a' } }]),
        rule('long', [{ path: { type: 'PathPrefix', value: '/a/b' } }]),
        rule('long-1h', [{ path: { type: 'PathPrefix', value: '/a/b' }, headers: [{ name: 'x-1', value: '1' }] }]),
        rule('long-2h', [
          {
            path: { type: 'PathPrefix', value: '/a/b' },
            headers: [
              { name: 'x-1', value: '1' },
              { name: 'x-2', value: '2' },
            ],
          },
        ]),
        rule('long-method', [{ path: { type: 'PathPrefix', value: '/a/b' }, method: 'GET' }]),
        rule('long-1q', [{ path: { type: 'PathPrefix', value: '/a/b' }, headers: [{ name: 'x-1', value: '1' }], queryParams: [{ name: 'q', value: '1' }] }]),
      ]),
    ]);
    assert.equal(matched(t, '/a/x'), 'short');
    assert.equal(matched(t, '/a/b', { method: 'POST' }), 'long');
    assert.equal(matched(t, '/a/b', { method: 'GET', headers: { 'x-1': '1', 'x-2': '2' } }), 'long-method', 'method outranks headers');
    assert.equal(matched(t, '/a/b', { method: 'POST', headers: { 'x-1': '1', 'x-2': '2' } }), 'long-2h');
    assert.equal(matched(t, '/a/b?q=1', { method: 'POST', headers: { 'x-1': '1' } }), 'long-1q');
    assert.equal(matched(t, '/a/b', { method: 'POST', headers: { 'x-1': '1' } }), 'long-1h');
  });

  it('ties go to the route first by namespace/name, then to the first rule and match in it', () => {
    const same = [{ path: { type: 'PathPrefix', value: '/' } }];
    const t = compile([route('zeta', [rule('z-first', same)]), route('alpha', [rule('a-first', same), rule('a-second', same)])]);
    assert.equal(matched(t, '/anything'), 'a-first');
  });

  it('a rule without matches matches everything (PathPrefix /), at the lowest precedence', () => {
    const t = compile([route('r', [rule('catch-all'), rule('v2', [{ headers: [{ name: 'x-canary', value: 'true' }] }], 'v2')])]);
    assert.equal(matched(t, '/x', { headers: { 'x-canary': 'true' } }), 'v2');
    assert.equal(matched(t, '/x'), 'catch-all');
  });

  it('names unnamed rules <route>.<index>', () => {
    const t = compile([route('r', [{ backendRefs: [{ name: 'api' }] }])]);
    assert.equal(matched(t, '/'), 'r.0');
  });

  it('leaves out a rule whose regex does not compile (with a warning) and keeps the others', () => {
    const warnings: string[] = [];
    const t = compile([route('r', [rule('bad', [{ path: { type: 'RegularExpression', value: '/v([0-9' } }]), rule('good', [{ path: { type: 'PathPrefix', value: '/v1' } }])])], warnings);
    assert.equal(matched(t, '/v1'), 'good');
    assert.equal(t.entries.length, 1);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /route default\/r rule 0 is left out: .*missing closing \]/);
  });
});

describe('URLRewrite paths (Gateway API examples)', () => {
  const prefix = (value: string) => ({ type: 'ReplacePrefixMatch' as const, value });
  const cases: [string, string, string, string][] = [
    // [matched prefix, replacement, request path, expected]
    ['/foo', '/xyz', '/foo/bar', '/xyz/bar'],
    ['/foo', '/xyz/', '/foo/bar', '/xyz/bar'],
    ['/foo', '/xyz', '/foo', '/xyz'],
    ['/foo', '/xyz', '/foo/', '/xyz/'],
    ['/foo', '/', '/foo/bar', '/bar'],
    ['/foo', '/', '/foo', '/'],
    ['/foo', '/xyz', '/foo/bar?a=1', '/xyz/bar?a=1'],
    ['/', '/api', '/items', '/api/items'],
  ];
  for (const [matchedPrefix, replacement, path, expected] of cases) {
    it(`prefix ${matchedPrefix} -> ${replacement}: ${path} becomes ${expected}`, () => {
      const pathname = callOf(path).pathname;
      assert.equal(rewritePath(path, pathname, prefix(replacement), matchedPrefix), expected);
    });
  }

  it('ReplaceFullPath keeps the query string', () => {
    assert.equal(rewritePath('/a/b?x=1', '/a/b', { type: 'ReplaceFullPath', value: '/c' }, undefined), '/c?x=1');
  });
});
