/**
 * The authorization table (must-show item 7), shared by two drivers: the
 * compiled policy set on its own (policy-set.test.ts), and a wrapped server
 * over real sockets with the peer set on the server's socket (authz-server.test.ts).
 */
import { authorizationPolicyResourceSchema, type AuthorizationPolicyResource } from '../../../src/config/resources.js';
import { parseWorkloadId, type WorkloadIdentity } from '../../../src/tls/spiffe.js';

function id(uri: string): WorkloadIdentity {
  const p = parseWorkloadId(uri);
  if (!p) throw new Error(`bad test identity ${uri}`);
  return p;
}

export const WEB = id('spiffe://hyphae.local/ns/shop/sa/web');
export const CART = id('spiffe://hyphae.local/ns/shop/sa/cart');
export const OPS = id('spiffe://hyphae.local/ns/ops/sa/admin-tool');

/** A policy as the control plane would send it (parsed by the real schema, defaults filled). */
export function policy(name: string, action: 'ALLOW' | 'DENY', rules: unknown[], namespace = 'default'): AuthorizationPolicyResource {
  return authorizationPolicyResourceSchema.parse({
    apiVersion: 'hyphae.dev/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace },
    spec: { action, rules },
  });
}

export interface Probe {
  method?: string;
  /** The request target as sent on the wire. */
  target: string;
  peer?: WorkloadIdentity;
  headers?: [string, string][];
  /** `allow`, `deny:default` (no ALLOW matched) or `deny:<namespace/name>` of the DENY policy. */
  expect: string;
}

export interface AuthzCase {
  name: string;
  policies: AuthorizationPolicyResource[];
  probes: Probe[];
}

const prefix = (value: string) => ({ type: 'PathPrefix', value });
const exact = (value: string) => ({ type: 'Exact', value });

export const CASES: AuthzCase[] = [
  {
    name: 'no policies: everything is allowed, plaintext included',
    policies: [],
    probes: [
      { target: '/anything', expect: 'allow' },
      { target: '/admin', peer: WEB, method: 'DELETE', expect: 'allow' },
    ],
  },
  {
    name: 'ALLOW principals exact',
    policies: [policy('web-only', 'ALLOW', [{ from: { principals: [WEB.id] } }])],
    probes: [
      { target: '/x', peer: WEB, expect: 'allow' },
      { target: '/x', peer: CART, expect: 'deny:default' },
      { target: '/x', expect: 'deny:default' },
    ],
  },
  {
    name: 'ALLOW principals prefix',
    policies: [policy('shop', 'ALLOW', [{ from: { principals: ['spiffe://hyphae.local/ns/shop/*'] } }])],
    probes: [
      { target: '/x', peer: WEB, expect: 'allow' },
      { target: '/x', peer: CART, expect: 'allow' },
      { target: '/x', peer: OPS, expect: 'deny:default' },
      { target: '/x', expect: 'deny:default' },
    ],
  },
  {
    name: 'ALLOW principals * needs an authenticated peer',
    policies: [policy('any-peer', 'ALLOW', [{ from: { principals: ['*'] } }])],
    probes: [
      { target: '/x', peer: OPS, expect: 'allow' },
      { target: '/x', expect: 'deny:default' },
    ],
  },
  {
    name: 'ALLOW namespaces',
    policies: [policy('ops-ns', 'ALLOW', [{ from: { namespaces: ['ops'] } }])],
    probes: [
      { target: '/x', peer: OPS, expect: 'allow' },
      { target: '/x', peer: WEB, expect: 'deny:default' },
      { target: '/x', expect: 'deny:default' },
    ],
  },
  {
    name: 'ALLOW principals AND namespaces within one from',
    policies: [policy('both', 'ALLOW', [{ from: { principals: ['spiffe://hyphae.local/*'], namespaces: ['shop'] } }])],
    probes: [
      { target: '/x', peer: CART, expect: 'allow' },
      { target: '/x', peer: OPS, expect: 'deny:default' },
    ],
  },
  {
    name: 'ALLOW path Exact',
    policies: [policy('health', 'ALLOW', [{ to: { paths: [exact('/health')] } }])],
    probes: [
      { target: '/health', expect: 'allow' },
      { target: '/health?verbose=1', expect: 'allow' },
      { target: '/health/', expect: 'deny:default' },
      { target: '/health/x', expect: 'deny:default' },
      { target: '/healthz', expect: 'deny:default' },
    ],
  },
  {
    name: 'ALLOW PathPrefix matches whole segments',
    policies: [policy('api', 'ALLOW', [{ to: { paths: [prefix('/api')] } }])],
    probes: [
      { target: '/api', expect: 'allow' },
      { target: '/api/', expect: 'allow' },
      { target: '/api/v1/items', expect: 'allow' },
      { target: '/apix', expect: 'deny:default' },
      { target: '/ap', expect: 'deny:default' },
      { target: '/', expect: 'deny:default' },
    ],
  },
  {
    name: 'PathPrefix ignores a trailing slash; / matches everything',
    policies: [policy('api-slash', 'ALLOW', [{ to: { paths: [prefix('/api/')] } }]), policy('root', 'DENY', [{ to: { paths: [prefix('/')], methods: ['DELETE'] } }])],
    probes: [
      { target: '/api', expect: 'allow' },
      { target: '/api/x', expect: 'allow' },
      { target: '/api/x', method: 'DELETE', expect: 'deny:default/root' },
      { target: '/other', expect: 'deny:default' },
    ],
  },
  {
    name: 'ALLOW methods',
    policies: [policy('read-only', 'ALLOW', [{ to: { methods: ['GET', 'HEAD'] } }])],
    probes: [
      { target: '/x', method: 'GET', expect: 'allow' },
      { target: '/x', method: 'HEAD', expect: 'allow' },
      { target: '/x', method: 'POST', expect: 'deny:default' },
      { target: '/x', method: 'DELETE', expect: 'deny:default' },
    ],
  },
  {
    name: 'ALLOW headers: exact, prefix*, *suffix, * (present)',
    policies: [
      policy('tenant', 'ALLOW', [{ when: { headers: [{ name: 'X-Tenant', values: ['acme', 'beta-*', '*-corp'] }] } }]),
      policy('traced', 'ALLOW', [{ when: { headers: [{ name: 'x-trace', values: ['*'] }] } }]),
    ],
    probes: [
      { target: '/x', headers: [['x-tenant', 'acme']], expect: 'allow' },
      { target: '/x', headers: [['X-TENANT', 'beta-7']], expect: 'allow' },
      { target: '/x', headers: [['x-tenant', 'big-corp']], expect: 'allow' },
      { target: '/x', headers: [['x-tenant', 'acme2']], expect: 'deny:default' },
      { target: '/x', headers: [['x-trace', 'anything']], expect: 'allow' },
      { target: '/x', expect: 'deny:default' },
    ],
  },
  {
    name: 'DENY PathPrefix, no ALLOW: the rest is allowed; matching uses the normalized path',
    policies: [policy('no-admin', 'DENY', [{ to: { paths: [prefix('/admin')] } }])],
    probes: [
      { target: '/admin', expect: 'deny:default/no-admin' },
      { target: '/admin/users', peer: WEB, expect: 'deny:default/no-admin' },
      { target: '/public/../%61dmin', expect: 'deny:default/no-admin' },
      { target: '/administrator', expect: 'allow' },
      { target: '/public', expect: 'allow' },
      // Spellings a router sends to /admin: Express routes without case, Fastify 4 cuts the path at `;`.
      { target: '/ADMIN', expect: 'deny:default/no-admin' },
      { target: '/Admin/users', expect: 'deny:default/no-admin' },
      { target: '/%41dmin', expect: 'deny:default/no-admin' },
      { target: '/admin;x', expect: 'deny:default/no-admin' },
      { target: '/admin;x/users', expect: 'deny:default/no-admin' },
      { target: '/public/ADMIN', expect: 'allow' },
      { target: '/ADMINISTRATOR', expect: 'allow' },
    ],
  },
  {
    name: 'DENY Exact matches any case, with or without one trailing slash (Express non-strict, Fastify ignoreTrailingSlash)',
    policies: [policy('no-admin-page', 'DENY', [{ to: { paths: [exact('/admin')] } }]), policy('no-ops', 'DENY', [{ to: { paths: [exact('/Ops/')] } }])],
    probes: [
      { target: '/admin', expect: 'deny:default/no-admin-page' },
      { target: '/admin/', expect: 'deny:default/no-admin-page' },
      { target: '/ADMIN/', expect: 'deny:default/no-admin-page' },
      { target: '/admin//', expect: 'deny:default/no-admin-page' },
      { target: '/ops', expect: 'deny:default/no-ops' },
      { target: '/OPS/', expect: 'deny:default/no-ops' },
      { target: '/admin/x', expect: 'allow' },
      { target: '/adminx', expect: 'allow' },
      { target: '/ops/x', expect: 'allow' },
    ],
  },
  {
    name: 'DENY paths read the Kelvin sign as k, as Fastify with caseSensitive: false lower-cases it',
    policies: [policy('no-kube', 'DENY', [{ to: { paths: [prefix('/kube')] } }])],
    probes: [
      { target: '/%E2%84%AAube', expect: 'deny:default/no-kube' },
      { target: '/%e2%84%aaUBE/x', expect: 'deny:default/no-kube' },
      { target: '/%E2%84%AA', expect: 'allow' },
      { target: '/%E2%84%AAubex', expect: 'allow' },
      { target: '/ube', expect: 'allow' },
    ],
  },
  {
    name: 'ALLOW paths match as written: another case or a trailing slash the policy did not name is denied',
    policies: [policy('public', 'ALLOW', [{ to: { paths: [prefix('/public'), exact('/health')] } }])],
    probes: [
      { target: '/public/x', expect: 'allow' },
      { target: '/health', expect: 'allow' },
      { target: '/Public/x', expect: 'deny:default' },
      { target: '/PUBLIC', expect: 'deny:default' },
      { target: '/HEALTH', expect: 'deny:default' },
      { target: '/health/', expect: 'deny:default' },
    ],
  },
  {
    name: 'DENY is checked before ALLOW',
    policies: [policy('shop-in', 'ALLOW', [{ from: { principals: ['spiffe://hyphae.local/ns/shop/*'] } }]), policy('not-cart', 'DENY', [{ from: { principals: [CART.id] } }], 'shop')],
    probes: [
      { target: '/x', peer: WEB, expect: 'allow' },
      { target: '/x', peer: CART, expect: 'deny:shop/not-cart' },
      { target: '/x', peer: OPS, expect: 'deny:default' },
    ],
  },
  {
    name: 'DENY with a source rule cannot match a plaintext caller (deny the unauthenticated with ALLOW principals *)',
    policies: [policy('peers-off-admin', 'DENY', [{ from: { principals: ['*'] }, to: { paths: [prefix('/admin')] } }])],
    probes: [
      { target: '/admin', peer: WEB, expect: 'deny:default/peers-off-admin' },
      { target: '/admin', expect: 'allow' },
    ],
  },
  {
    name: 'DENY on a header sees every occurrence, not the comma-joined value',
    policies: [policy('no-debug', 'DENY', [{ when: { headers: [{ name: 'x-debug', values: ['1'] }] } }])],
    probes: [
      {
        target: '/x',
        headers: [
          ['x-debug', '0'],
          ['x-debug', '1'],
        ],
        expect: 'deny:default/no-debug',
      },
      { target: '/x', headers: [['x-debug', '0']], expect: 'allow' },
    ],
  },
  {
    name: 'combinations: a rule ANDs its parts, a policy ORs its rules, ALLOW policies OR together',
    policies: [
      policy('orders', 'ALLOW', [{ from: { namespaces: ['shop'] }, to: { paths: [prefix('/orders')], methods: ['POST'] } }, { to: { paths: [exact('/health')] } }]),
      policy('ops', 'ALLOW', [{ from: { namespaces: ['ops'] }, when: { headers: [{ name: 'x-ticket', values: ['*'] }] } }]),
    ],
    probes: [
      { target: '/orders/1', method: 'POST', peer: WEB, expect: 'allow' },
      { target: '/orders/1', method: 'GET', peer: WEB, expect: 'deny:default' },
      { target: '/orders/1', method: 'POST', expect: 'deny:default' },
      { target: '/health', expect: 'allow' },
      { target: '/orders/1', method: 'DELETE', peer: OPS, headers: [['x-ticket', 'T-1']], expect: 'allow' },
      { target: '/orders/1', method: 'DELETE', peer: OPS, expect: 'deny:default' },
    ],
  },
  {
    name: 'an ALLOW without rules denies everything; a DENY without rules denies nothing; a rule {} matches all',
    policies: [policy('none', 'ALLOW', []), policy('noop', 'DENY', [])],
    probes: [
      { target: '/x', peer: WEB, expect: 'deny:default' },
      { target: '/x', expect: 'deny:default' },
    ],
  },
  {
    name: 'ALLOW with a rule {} lets every request through, plaintext included',
    policies: [policy('all', 'ALLOW', [{}])],
    probes: [
      { target: '/x', expect: 'allow' },
      { target: '/admin', peer: OPS, method: 'DELETE', expect: 'allow' },
    ],
  },
];

export function probeName(p: Probe): string {
  const h = p.headers?.length ? ` ${p.headers.map(([n, v]) => `${n}:${v}`).join(',')}` : '';
  return `${p.method ?? 'GET'} ${p.target} from ${p.peer?.id ?? 'plaintext'}${h}`;
}
