/**
 * Issue 17: authorization across clusters, end to end through dc2's mesh gateway. dc2's api (on loopback,
 * only its gateway reachable from dc1) has an AuthorizationPolicy that allows dc1's web alone. The
 * gateway does not decrypt: api authorizes the dc1 caller's own certificate, so web gets through and
 * another dc1 service is refused with 403.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { apply } from '../helpers/gateway.js';
import { clusterNetworkUnsupported } from '../helpers/netns.js';
import { DEFAULT_TRUST_DOMAIN } from '../../src/control-plane/options.js';
import { byCluster, calls, exportOf, peer, startApiIn, startCallerIn, startClusters, startMeshGatewayIn, type Clusters } from './multi-cluster-helpers.js';

const unsupported = await clusterNetworkUnsupported();
const WEB = `spiffe://${DEFAULT_TRUST_DOMAIN}/ns/default/sa/web`;

describe('multi-cluster: an AuthorizationPolicy of dc2 decides on the dc1 caller, through the mesh gateway', { skip: unsupported, timeout: 600_000 }, () => {
  let cs: Clusters;
  let web: string;
  let other: string;

  before(async () => {
    cs = await startClusters();
    await apply(cs.dc2.cp, exportOf('api'), {
      apiVersion: 'hyphae.dev/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'api-web-only', namespace: 'default' },
      spec: { selector: { service: 'api' }, action: 'ALLOW', rules: [{ from: { principals: [WEB] } }] },
    });
    await Promise.all([startApiIn(cs.dc2), startMeshGatewayIn(cs.dc2)]);
    await peer(cs, 'api', 1, 'default/mesh-gateway');
    [web, other] = await Promise.all([startCallerIn(cs.dc1, 'web'), startCallerIn(cs.dc1, 'reports')]);
  });
  after(async () => {
    await cs?.close();
  });

  it("dc1's web gets through, seen as itself; dc1's reports is refused with 403", async () => {
    const allowed = await calls(web, 20);
    const refused = await calls(other, 20);
    console.log(`[authz] web: ${JSON.stringify(byCluster(allowed))}; reports: ${JSON.stringify(byCluster(refused))}`);
    assert.deepEqual(byCluster(allowed), { dc2: 20 });
    assert.ok(
      allowed.every((a) => a.peer === WEB),
      `api saw web's own identity: ${JSON.stringify(allowed[0])}`,
    );
    assert.equal(refused.length, 20);
    for (const r of refused) {
      assert.equal(r.status, 403, JSON.stringify(r));
      assert.match(r.error ?? '', /HYPHAE_ERR_AUTHZ_DENIED/, "api's policy decision, with its code");
    }
  });
});
