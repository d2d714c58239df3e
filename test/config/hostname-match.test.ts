/** The compiled (listener, Host) -> routes table a gateway uses per request. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGatewayHosts, compileListenerSelection, hostOnly } from '../../src/config/hostname-match.js';
import { gatewayResourceSchema, routeResourceSchema, type RouteResource } from '../../src/config/resources.js';

const gateway = (listeners: unknown[], namespace = 'default') =>
  gatewayResourceSchema.parse({ apiVersion: 'hyphae.dev/v1', kind: 'Gateway', metadata: { name: 'edge', namespace }, spec: { listeners } });

const route = (name: string, hostnames: string[] | undefined, parent: Record<string, unknown> = {}, namespace = 'default'): RouteResource =>
  routeResourceSchema.parse({
    apiVersion: 'hyphae.dev/v1',
    kind: 'Route',
    metadata: { name, namespace },
    spec: { parentRefs: [{ kind: 'Gateway', name: 'edge', ...parent }], ...(hostnames ? { hostnames } : {}), rules: [{ backendRefs: [{ name: name }] }] },
  });

const names = (routes: readonly RouteResource[] | undefined) => routes?.map((r) => r.metadata.name);

describe('hostOnly: the name a Host header carries', () => {
  it('drops the port and one trailing dot, lower-cases, keeps IPv6 literals apart', () => {
    const table: [string, string][] = [
      ['Shop.Example.COM', 'shop.example.com'],
      ['shop.example.com:8443', 'shop.example.com'],
      ['shop.example.com.', 'shop.example.com'],
      ['shop.example.com.:80', 'shop.example.com'],
      ['[::1]:8080', '[::1]'],
      ['[FE80::1]', '[fe80::1]'],
      ['[::1', ''],
      ['::1', ''],
      ['10.0.0.1:80', '10.0.0.1'],
      ['', ''],
    ];
    for (const [host, want] of table) assert.equal(hostOnly(host), want, host);
  });
});

describe('compileGatewayHosts', () => {
  const gw = gateway([
    { name: 'http', port: 80, protocol: 'HTTP' },
    { name: 'shop', port: 443, protocol: 'HTTPS', hostname: 'shop.example.com', tls: { certificateFile: '/c.pem', keyFile: '/k.pem' } },
    { name: 'wild', port: 443, protocol: 'HTTPS', hostname: '*.example.com', tls: { certificateFile: '/c.pem', keyFile: '/k.pem' } },
  ]);
  const routes = [
    route('catch-all', undefined, { sectionName: 'http' }),
    route('exact', ['a.example.com']),
    route('wild', ['*.example.com']),
    route('deep-wild', ['*.b.example.com']),
    route('other-gateway', ['a.example.com'], { name: 'nope' }),
    route('shop-only', ['shop.example.com', 'shop.example.org'], { sectionName: 'shop' }),
  ];
  let builds = 0;
  const hosts = compileGatewayHosts(gw, routes, (rs) => {
    builds++;
    return rs.map((r) => r.metadata.name).join('+');
  });

  it('picks exact over wildcard, the longest wildcard, then the catch-all, case and port aside', () => {
    const http = hosts.get('http')!;
    const table: [string | undefined, string | undefined, string[] | undefined][] = [
      // host, matched entry, routes in precedence order
      ['a.example.com', 'a.example.com', ['exact', 'wild', 'catch-all']],
      ['A.Example.Com:80', 'a.example.com', ['exact', 'wild', 'catch-all']],
      ['a.example.com.', 'a.example.com', ['exact', 'wild', 'catch-all']],
      ['x.b.example.com', '*.b.example.com', ['deep-wild', 'wild', 'catch-all']],
      ['y.x.b.example.com', '*.b.example.com', ['deep-wild', 'wild', 'catch-all']],
      ['b.example.com', '*.example.com', ['wild', 'catch-all']],
      ['z.example.com', '*.example.com', ['wild', 'catch-all']],
      ['example.com', undefined, ['catch-all']],
      ['other.org', undefined, ['catch-all']],
      ['[::1]:80', undefined, ['catch-all']],
      ['127.0.0.1', undefined, ['catch-all']],
      [undefined, undefined, ['catch-all']],
    ];
    for (const [host, entry, want] of table) {
      const m = http.match(host);
      assert.equal(m?.hostname, entry, String(host));
      assert.deepEqual(names(m?.routes), want, String(host));
      assert.equal(m?.value, want?.join('+'), String(host));
    }
  });

  it('a listener with a hostname serves only names within it, and routes take its hostname', () => {
    const shop = hosts.get('shop')!;
    // "wild" (*.example.com) intersects shop.example.com too; ties keep the routes' (name) order.
    assert.deepEqual(names(shop.match('shop.example.com')?.routes), ['wild', 'shop-only']);
    assert.equal(shop.match('a.example.com'), undefined, 'the exact route does not intersect shop.example.com');
    assert.equal(shop.match('other.org'), undefined);

    const wild = hosts.get('wild')!;
    assert.deepEqual(names(wild.match('a.example.com')?.routes), ['exact', 'wild']);
    assert.deepEqual(names(wild.match('q.example.com')?.routes), ['wild']);
    assert.deepEqual(names(wild.match('shop.example.com')?.routes), ['wild'], 'shop-only is attached to the "shop" listener only');
    assert.equal(wild.match('example.com'), undefined, '*.example.com does not match example.com');
    assert.equal(wild.match('10.0.0.1'), undefined, 'no catch-all on a listener with a hostname');
  });

  it('builds each distinct route list once, at compile time', () => {
    const before = builds;
    for (let i = 0; i < 100; i++) hosts.get('http')!.match(`h${i}.example.com`);
    assert.equal(builds, before, 'matching never builds');
    const distinct = new Set(
      [...hosts.values()].flatMap((l) => ['a.example.com', 'x.b.example.com', 'z.example.com', 'other.org', 'shop.example.com'].map((h) => l.match(h)?.value)).filter((v) => v !== undefined),
    );
    assert.equal(builds, distinct.size);
  });

  it('applies allowedRoutes: a route from another namespace attaches only where All is allowed', () => {
    const gw2 = gateway([
      { name: 'same', port: 80, protocol: 'HTTP' },
      { name: 'all', port: 81, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } },
    ]);
    const foreign = route('foreign', undefined, { namespace: 'default' }, 'team-a');
    const h = compileGatewayHosts(gw2, [foreign], (rs) => rs.length);
    assert.equal(h.get('same')!.match('x.org'), undefined);
    assert.deepEqual(names(h.get('all')!.match('x.org')?.routes), ['foreign']);
  });
});

describe('compileListenerSelection: the listener of a shared port, by SNI or Host', () => {
  const tls = { certificateFile: '/c.pem', keyFile: '/k.pem' };
  const gw = gateway([
    { name: 'shop', port: 443, protocol: 'HTTPS', hostname: 'shop.example.com', tls },
    { name: 'apis', port: 443, protocol: 'HTTPS', hostname: '*.example.com', tls },
    { name: 'deep', port: 443, protocol: 'HTTPS', hostname: '*.eu.example.com', tls },
    { name: 'rest', port: 443, protocol: 'HTTPS', tls },
    { name: 'plain', port: 80, protocol: 'HTTP', hostname: 'www.example.com' },
  ]);
  const ports = compileListenerSelection(gw);

  it('picks the exact hostname, the longest wildcard, then the listener without one; per port', () => {
    const https = ports.get(443)!;
    const table: [string | undefined, string | undefined][] = [
      ['shop.example.com', 'shop'],
      ['SHOP.example.com:443', 'shop'],
      ['api.example.com', 'apis'],
      ['a.eu.example.com', 'deep'],
      ['eu.example.com', 'apis'],
      ['example.com', 'rest'],
      ['[::1]', 'rest'],
      [undefined, 'rest'],
    ];
    for (const [name, want] of table) assert.equal(https.match(name)?.value.name, want, String(name));
    assert.equal(ports.get(80)!.match('www.example.com')?.value.name, 'plain');
    assert.equal(ports.get(80)!.match('shop.example.com'), undefined, 'no listener on port 80 takes it');
    assert.deepEqual(
      [...ports.keys()].sort((a, b) => a - b),
      [80, 443],
    );
  });
});
