/** The SNI name of a mesh target: built from three DNS labels, parsed back, anything else refused. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meshSni, parseMeshSni } from '../../src/config/mesh-sni.js';

describe('mesh SNI names', () => {
  it('round-trips service, namespace and cluster, in any letter case', () => {
    const target = { service: 'api', namespace: 'shop-1', cluster: 'dc2' };
    assert.equal(meshSni(target), 'api.shop-1.dc2.hyphae');
    assert.deepEqual(parseMeshSni(meshSni(target)), target);
    assert.deepEqual(parseMeshSni('API.Shop-1.DC2.Hyphae'), target);
  });

  it('refuses names that are not exactly <service>.<namespace>.<cluster>.hyphae', () => {
    for (const bad of [
      '',
      'api',
      'api.default.dc1',
      'api.default.dc1.consul',
      'x.api.default.dc1.hyphae',
      'api..dc1.hyphae',
      '-api.default.dc1.hyphae',
      'api.default.dc_1.hyphae',
      `${'a'.repeat(64)}.default.dc1.hyphae`,
      `${'a.'.repeat(130)}hyphae`,
      'api.default.dc1.hyphae.',
    ]) {
      assert.equal(parseMeshSni(bad), undefined, bad);
    }
  });
});
