/**
 * AuthorizationPolicy by cluster (issue 17), on the compiled policy set: `clusters` / `notClusters`
 * beside the other source matchers, DENY before ALLOW, a peer whose certificate names no cluster, and
 * what the schema refuses. The same with real processes: clusters-live.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authorizationPolicyResourceSchema } from '../../../src/config/resources.js';
import type { PeerIdentity } from '../../../src/server/peer.js';
import { compilePolicies } from '../../../src/server/authz/policy-set.js';
import { policy, WEB } from './authz-cases.js';

const from = (cluster: string | undefined): PeerIdentity => (cluster === undefined ? WEB : { ...WEB, cluster });
const DC1 = from('dc1');
const DC2 = from('dc2');
const NONE = from(undefined);

function outcomes(policies: ReturnType<typeof policy>[]): Record<string, string> {
  const set = compilePolicies(policies);
  const out: Record<string, string> = {};
  for (const [name, peer] of [
    ['dc1', DC1],
    ['dc2', DC2],
    ['no-cluster', NONE],
    ['plaintext', undefined],
  ] as const) {
    const d = set.check('GET', '/x', peer, []);
    out[name] = d === undefined ? 'allow' : `deny:${d.policy ?? 'default'}`;
  }
  return out;
}

describe('authorization by cluster', () => {
  it('ALLOW clusters: only the listed clusters; a certificate without a cluster and plaintext are denied', () => {
    assert.deepEqual(outcomes([policy('dc1-only', 'ALLOW', [{ from: { clusters: ['dc1'] } }])]), { dc1: 'allow', dc2: 'deny:default', 'no-cluster': 'deny:default', plaintext: 'deny:default' });
  });

  it('DENY clusters: the listed clusters are denied, the rest (no cluster included) go through', () => {
    assert.deepEqual(outcomes([policy('no-dc1', 'DENY', [{ from: { clusters: ['dc1'] } }])]), { dc1: 'deny:default/no-dc1', dc2: 'allow', 'no-cluster': 'allow', plaintext: 'allow' });
  });

  it('DENY notClusters: every verified caller outside the list is denied, a certificate without a cluster too', () => {
    assert.deepEqual(outcomes([policy('home-only', 'DENY', [{ from: { notClusters: ['dc2'] } }])]), {
      dc1: 'deny:default/home-only',
      dc2: 'allow',
      'no-cluster': 'deny:default/home-only',
      // Like every `from` matcher, it needs a verified identity: plaintext is kept out by an ALLOW, not by this.
      plaintext: 'allow',
    });
  });

  it('ALLOW notClusters matches a verified caller of any other cluster, or of none', () => {
    assert.deepEqual(outcomes([policy('not-dc2', 'ALLOW', [{ from: { notClusters: ['dc2'] } }])]), { dc1: 'allow', dc2: 'deny:default', 'no-cluster': 'allow', plaintext: 'deny:default' });
  });

  it('is one more part of the rule: with principals and namespaces all must match; DENY wins over ALLOW', () => {
    const web = 'spiffe://hyphae.local/ns/shop/sa/web';
    assert.deepEqual(outcomes([policy('web-dc1', 'ALLOW', [{ from: { principals: [web], clusters: ['dc1'] } }])]), {
      dc1: 'allow',
      dc2: 'deny:default',
      'no-cluster': 'deny:default',
      plaintext: 'deny:default',
    });
    assert.deepEqual(outcomes([policy('other-ns', 'ALLOW', [{ from: { namespaces: ['ops'], clusters: ['dc1', 'dc2'] } }])]), {
      dc1: 'deny:default',
      dc2: 'deny:default',
      'no-cluster': 'deny:default',
      plaintext: 'deny:default',
    });
    assert.deepEqual(outcomes([policy('anyone', 'ALLOW', [{ from: { principals: ['*'] } }]), policy('no-dc2', 'DENY', [{ from: { clusters: ['dc2'] }, to: { methods: ['GET'] } }])]), {
      dc1: 'allow',
      dc2: 'deny:default/no-dc2',
      'no-cluster': 'allow',
      plaintext: 'deny:default',
    });
  });

  it('schema: cluster lists are non-empty DNS labels, may stand alone in `from`, and a cluster cannot be in both', () => {
    const parse = (from: unknown) =>
      authorizationPolicyResourceSchema.safeParse({ apiVersion: 'hyphae.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p' }, spec: { action: 'DENY', rules: [{ from }] } });
    const refused = (from: unknown, re: RegExp) => {
      const r = parse(from);
      assert.equal(r.success, false, JSON.stringify(from));
      assert.match(r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'), re, JSON.stringify(from));
    };
    assert.equal(parse({ clusters: ['dc1'] }).success, true);
    assert.equal(parse({ notClusters: ['dc1', 'dc-2'] }).success, true);
    assert.equal(parse({ clusters: ['dc1'], notClusters: ['dc2'] }).success, true);
    refused({ clusters: [] }, /clusters/);
    refused({ notClusters: [] }, /notClusters/);
    refused({ clusters: ['DC1'] }, /clusters\.0/);
    refused({ notClusters: ['dc_1'] }, /notClusters\.0/);
    refused({ clusters: Array.from({ length: 65 }, (_, i) => `c${i}`) }, /clusters/);
    refused({ clusters: ['dc1'], notClusters: ['dc1'] }, /both clusters and notClusters/);
    refused({ cluster: ['dc1'] }, /cluster/);
  });
});
