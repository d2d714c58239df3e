/** Which mesh service an outbound request names: absolute form (HTTP_PROXY clients) or Host; anything else refused. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outboundTarget } from '../../src/proxy/outbound-target.js';

describe('outbound target', () => {
  const ok: [string, string | undefined, { service: string; path: string }][] = [
    ['http://api/items?x=1', undefined, { service: 'api', path: '/items?x=1' }],
    ['http://api', undefined, { service: 'api', path: '/' }],
    ['http://API:8080/a#frag', undefined, { service: 'api', path: '/a' }],
    ['http://api?q', undefined, { service: 'api', path: '/?q' }],
    ['http://api.default/x', undefined, { service: 'api', path: '/x' }],
    ['/items', 'api', { service: 'api', path: '/items' }],
    ['/items', 'api:80', { service: 'api', path: '/items' }],
    ['/items', 'api.default:15001', { service: 'api', path: '/items' }],
  ];
  for (const [url, host, expected] of ok) {
    it(`${url} (Host ${host ?? '-'}) -> ${expected.service} ${expected.path}`, () => {
      assert.deepEqual(outboundTarget(url, host, 'default'), expected);
    });
  }

  const refused: [string, string | undefined, number, string][] = [
    ['http://api.other/x', undefined, 502, 'HYPHAE_ERR_SERVICE_NOT_FOUND'],
    ['http://example.com/', undefined, 502, 'HYPHAE_ERR_SERVICE_NOT_FOUND'],
    ['http://localhost/', undefined, 502, 'HYPHAE_ERR_SERVICE_NOT_FOUND'],
    ['http://127.0.0.1:9000/', undefined, 502, 'HYPHAE_ERR_SERVICE_NOT_FOUND'],
    ['http://[::1]:9000/', undefined, 502, 'HYPHAE_ERR_SERVICE_NOT_FOUND'],
    ['http://user@api/', undefined, 502, 'HYPHAE_ERR_SERVICE_NOT_FOUND'],
    ['https://api/', undefined, 502, 'HYPHAE_ERR_SERVICE_NOT_FOUND'],
    ['/items', undefined, 400, 'HYPHAE_ERR_BAD_REQUEST_TARGET'],
    ['*', 'api', 400, 'HYPHAE_ERR_BAD_REQUEST_TARGET'],
    ['/items', 'Under_score', 502, 'HYPHAE_ERR_SERVICE_NOT_FOUND'],
  ];
  for (const [url, host, status, code] of refused) {
    it(`${url} (Host ${host ?? '-'}) -> ${status} ${code}`, () => {
      const t = outboundTarget(url, host, 'default');
      assert.ok('status' in t, JSON.stringify(t));
      assert.equal(t.status, status);
      assert.equal(t.code, code);
    });
  }
});
