/** Gateway API hostnames: syntax, and the intersection of a listener's hostname with a route's. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveHostnames, hostnameMatches, hostnameProblem, intersectHostnames } from '../../src/config/hostnames.js';

describe('hostname syntax', () => {
  it('takes RFC 1123 names in lower case, with one leading "*." label at most', () => {
    for (const ok of ['example.com', 'a-b.example.com', 'localhost', '*.example.com', '*.a.b.example.com', 'x1.y2', `${'a'.repeat(63)}.com`]) {
      assert.equal(hostnameProblem(ok), undefined, ok);
    }
  });

  it('refuses upper case, misplaced wildcards, IP addresses, empty and long labels, and names past 253', () => {
    const cases: [string, RegExp][] = [
      ['Example.com', /lower case/],
      ['*', /RFC 1123|wildcard/],
      ['a.*.example.com', /wildcard is allowed only as the whole first label/],
      ['*example.com', /wildcard/],
      ['**.example.com', /wildcard/],
      ['10.0.0.1', /IP address/],
      ['a..b', /RFC 1123/],
      ['-a.example.com', /RFC 1123/],
      ['a-.example.com', /RFC 1123/],
      ['example.com.', /RFC 1123/],
      ['a_b.example.com', /RFC 1123/],
      [`${'a'.repeat(64)}.com`, /at most 63/],
      [Array.from({ length: 64 }, () => 'abc').join('.'), /at most 253/],
    ];
    for (const [value, why] of cases) assert.match(hostnameProblem(value) ?? 'accepted', why, value);
  });
});

describe('hostname matching and intersection', () => {
  it('a wildcard covers one or more labels before its suffix, never the bare suffix', () => {
    assert.equal(hostnameMatches('*.example.com', 'a.example.com'), true);
    assert.equal(hostnameMatches('*.example.com', 'a.b.example.com'), true);
    assert.equal(hostnameMatches('*.example.com', 'example.com'), false);
    assert.equal(hostnameMatches('*.example.com', 'badexample.com'), false);
    assert.equal(hostnameMatches('a.example.com', 'a.example.com'), true);
    assert.equal(hostnameMatches('a.example.com', 'b.example.com'), false);
  });

  it('intersects as the Gateway API does: the more specific name, or none', () => {
    const table: [string | undefined, string, string | undefined][] = [
      [undefined, 'a.example.com', 'a.example.com'],
      [undefined, '*.example.com', '*.example.com'],
      ['a.example.com', 'a.example.com', 'a.example.com'],
      ['a.example.com', 'b.example.com', undefined],
      ['*.example.com', 'a.example.com', 'a.example.com'],
      ['a.example.com', '*.example.com', 'a.example.com'],
      ['*.example.com', '*.a.example.com', '*.a.example.com'],
      ['*.a.example.com', '*.example.com', '*.a.example.com'],
      ['*.example.com', '*.example.com', '*.example.com'],
      ['*.example.com', 'example.com', undefined],
      ['example.com', '*.example.com', undefined],
      ['*.example.com', '*.example.org', undefined],
      ['*.com', '*.example.com', '*.example.com'],
    ];
    for (const [listener, route, want] of table) assert.equal(intersectHostnames(listener, route), want, `${listener ?? '(any)'} x ${route}`);
  });

  it("a route without hostnames takes the listener's; one whose hostnames all miss does not attach", () => {
    assert.deepEqual(effectiveHostnames(undefined, undefined), { any: true, names: [] });
    assert.deepEqual(effectiveHostnames('*.example.com', undefined), { any: false, names: ['*.example.com'] });
    assert.deepEqual(effectiveHostnames('*.example.com', ['a.example.com', 'x.org', 'a.example.com']), { any: false, names: ['a.example.com'] });
    assert.equal(effectiveHostnames('shop.example.com', ['x.org', '*.example.org']), undefined);
  });
});
