/** The Gateway resource's schema: listeners, TLS, edge defaults and bounds, every problem at its path. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { gatewayResourceSchema, resourceSchema } from '../../../src/config/resources.js';
import { toIssues } from '../../../src/config/validate.js';
import { repoRoot } from '../../helpers/process.js';

const TLS = { certificateFile: '/etc/tls/a.crt', keyFile: '/etc/tls/a.key' };
const doc0 = (spec: unknown) => ({ apiVersion: 'hyphae.dev/v1', kind: 'Gateway', metadata: { name: 'edge' }, spec });

function issues(spec: unknown): Record<string, string> {
  const r = resourceSchema.safeParse(doc0(spec));
  assert.equal(r.success, false, 'expected a refusal');
  return Object.fromEntries(toIssues(r.error!).map((i) => [i.path, i.message]));
}

describe('Gateway schema', () => {
  it('fills every edge default, and allowedRoutes Same, when only listeners are written', () => {
    const g = gatewayResourceSchema.parse(doc0({ listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] }));
    assert.equal(g.metadata.namespace, 'default');
    assert.deepEqual(g.spec.listeners[0], { name: 'http', port: 8080, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'Same' } } });
    assert.deepEqual(g.spec.edge, {
      trustedHops: 0,
      maxRequestHeaderBytes: 16 * 1024,
      maxRequestBodyBytes: 1024 * 1024,
      timeouts: { idle: 75_000, requestHeaders: 10_000, request: 60_000 },
    });
  });

  it('parses durations and keeps what is written', () => {
    const g = gatewayResourceSchema.parse(
      doc0({
        listeners: [{ name: 'https', port: 443, protocol: 'HTTPS', hostname: '*.example.com', tls: TLS, allowedRoutes: { namespaces: { from: 'All' } } }],
        edge: { trustedHops: 2, maxRequestBodyBytes: 0, timeouts: { idle: '5m', request: '2s', requestHeaders: '500ms' } },
      }),
    );
    assert.equal(g.spec.listeners[0]!.tls!.keyFile, '/etc/tls/a.key');
    assert.equal(g.spec.listeners[0]!.allowedRoutes.namespaces.from, 'All');
    assert.deepEqual(g.spec.edge.timeouts, { idle: 300_000, requestHeaders: 500, request: 2000 });
    assert.equal(g.spec.edge.maxRequestBodyBytes, 0);
    assert.equal(g.spec.edge.maxRequestHeaderBytes, 16 * 1024);
  });

  it('refuses HTTPS without tls and HTTP with it, relative and NUL paths, ports out of range, unknown fields', () => {
    const got = issues({
      listeners: [
        { name: 'a', port: 443, protocol: 'HTTPS' },
        { name: 'b', port: 80, protocol: 'HTTP', tls: TLS },
        { name: 'c', port: 0, protocol: 'HTTP' },
        { name: 'd', port: 65536, protocol: 'HTTP' },
        { name: 'e', port: 8443, protocol: 'HTTPS', tls: { certificateFile: 'certs/a.crt', keyFile: '/k\0' } },
        { name: 'f', port: 81, protocol: 'TCP' },
        { name: 'g', port: 82, protocol: 'HTTP', hostname: 'Shop.example.com', certificateRefs: [] },
      ],
    });
    assert.match(got['spec.listeners[0].tls']!, /required when protocol is HTTPS/);
    assert.match(got['spec.listeners[1].tls']!, /only for protocol HTTPS/);
    assert.ok(got['spec.listeners[2].port']);
    assert.ok(got['spec.listeners[3].port']);
    assert.match(got['spec.listeners[4].tls.certificateFile']!, /absolute path/);
    assert.match(got['spec.listeners[4].tls.keyFile']!, /NUL/);
    assert.ok(got['spec.listeners[5].protocol']);
    assert.match(got['spec.listeners[6].hostname']!, /lower case/);
    assert.equal(got['spec.listeners[6].certificateRefs'], 'unknown field');
  });

  it('refuses duplicate listener names, one port with two protocols, and one port with one hostname twice', () => {
    const got = issues({
      listeners: [
        { name: 'web', port: 8080, protocol: 'HTTP' },
        { name: 'web', port: 8081, protocol: 'HTTP' },
        { name: 'tls', port: 8080, protocol: 'HTTPS', hostname: 'a.example.com', tls: TLS },
        { name: 'a', port: 8443, protocol: 'HTTPS', hostname: 'a.example.com', tls: TLS },
        { name: 'b', port: 8443, protocol: 'HTTPS', hostname: 'b.example.com', tls: TLS },
        { name: 'c', port: 8443, protocol: 'HTTPS', hostname: 'a.example.com', tls: TLS },
        { name: 'any1', port: 9000, protocol: 'HTTP' },
        { name: 'any2', port: 9000, protocol: 'HTTP' },
      ],
    });
    assert.match(got['spec.listeners[1].name']!, /duplicate listener name "web" \(also listeners\[0\]\.name\)/);
    assert.match(got['spec.listeners[2].protocol']!, /port 8080 is HTTP on listeners\[0\]: one port speaks one protocol/);
    assert.match(got['spec.listeners[5].hostname']!, /listeners\[3\] already takes hostname a\.example\.com on port 8443/);
    assert.match(got['spec.listeners[7].hostname']!, /listeners\[6\] already takes every hostname on port 9000/);
    assert.equal(got['spec.listeners[4].hostname'], undefined, 'SNI: two hostnames on one port are fine');
    assert.equal(Object.keys(got).length, 4, JSON.stringify(got));
  });

  it('bounds every edge setting, and requestHeaders within request', () => {
    const listeners = [{ name: 'http', port: 80, protocol: 'HTTP' }];
    const got = issues({
      listeners,
      edge: { trustedHops: 17, maxRequestHeaderBytes: 512, maxRequestBodyBytes: -1, timeouts: { idle: '10ms', request: '2h', requestHeaders: '11m' } },
    });
    for (const p of ['trustedHops', 'maxRequestHeaderBytes', 'maxRequestBodyBytes', 'timeouts.idle', 'timeouts.request', 'timeouts.requestHeaders']) {
      assert.ok(got[`spec.edge.${p}`], `${p}: ${JSON.stringify(got)}`);
    }
    const order = issues({ listeners, edge: { timeouts: { request: '5s', requestHeaders: '6s' } } });
    assert.match(order['spec.edge.timeouts.requestHeaders']!, /must not exceed timeouts\.request/);
    assert.ok(issues({ listeners: [] })['spec.listeners']);
  });
});

describe('docs/usage.md "Defaults of a Gateway"', () => {
  const doc = readFileSync(path.join(repoRoot, 'docs/usage.md'), 'utf8').split('\n');
  const start = doc.indexOf('#### Defaults of a Gateway');
  const rows: [string, string | undefined][] = [];
  for (const line of doc.slice(start + 1)) {
    if (/^#{1,4} /.test(line)) break;
    const m = /^\| `([^`]+)` \| (?:`([^`]+)`|none)/.exec(line);
    if (m) rows.push([m[1]!, m[2]]);
  }
  const listener = { name: 'http', port: 80, protocol: 'HTTP' };
  const defaults = gatewayResourceSchema.parse(doc0({ listeners: [listener] })).spec;

  it('states every default the schema applies, as the schema reads it', () => {
    assert.ok(start >= 0 && rows.length > 0, 'the section and its table exist');
    const leaves = (v: unknown, prefix: string): string[] => (typeof v === 'object' && v !== null ? Object.entries(v).flatMap(([k, x]) => leaves(x, prefix ? `${prefix}.${k}` : k)) : [prefix]);
    const documented = new Set(rows.map(([s]) => s));
    for (const leaf of leaves(defaults.edge, 'edge')) assert.ok(documented.has(leaf), `${leaf} has a row`);
    for (const [setting, value] of rows) {
      if (setting.startsWith('listeners[].')) {
        const key = setting.slice('listeners[].'.length).split('.');
        const got = key.reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], defaults.listeners[0]);
        assert.equal(got, value === undefined ? undefined : (parseYaml(value) as unknown), setting);
        continue;
      }
      assert.ok(value !== undefined, `${setting} has a value`);
      // The documented value written by a user must give what the schema gives for nothing written.
      const keys = setting.split('.').slice(1);
      const edge: Record<string, unknown> = {};
      let node = edge;
      for (const k of keys.slice(0, -1)) node = node[k] = {} as Record<string, unknown>;
      node[keys.at(-1)!] = parseYaml(value) as unknown;
      const written = gatewayResourceSchema.parse(doc0({ listeners: [listener], edge })).spec.edge;
      const get = (e: unknown) => keys.reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], e);
      assert.equal(get(written), get(defaults.edge), setting);
    }
  });
});
