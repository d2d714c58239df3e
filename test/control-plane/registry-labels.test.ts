/**
 * Issue 13, defect 5: what one registration may carry, against a real
 * control-plane process. Labels follow Kubernetes' rules (at most 64; keys an
 * optional DNS-subdomain prefix of at most 253 characters and a name of at
 * most 63; values at most 63), and every other field of an instance is
 * bounded: a refusal is 400 HYPHAE_ERR_BAD_REQUEST listing every problem at
 * its path, and nothing is registered.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RegisterRequest } from '../../src/config/instance.js';
import type { ApiErrorBody } from '../../src/config/wire.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

const PREFIX_253 = `${'p'.repeat(61)}.${'q'.repeat(63)}.${'r'.repeat(63)}.${'s'.repeat(63)}`;

describe('registration limits: labels and instance fields', () => {
  let cp: RunningControlPlane;
  let token: string;
  let port = 7000;
  before(async () => {
    cp = await startControlPlane();
    token = await cp.joinToken('api');
  });
  after(() => cp?.stop());

  const post = (extra: Partial<RegisterRequest>) => call<ApiErrorBody>(cp.url, 'POST', '/v1/instances', { service: 'api', address: '127.0.0.1', port: port++, ...extra }, { token });

  /** 400 BAD_REQUEST whose issues are exactly `paths` (in any order); each message must match its pattern. */
  async function refused(extra: Partial<RegisterRequest>, expected: Record<string, RegExp>): Promise<void> {
    const res = await post(extra);
    assert.equal(res.status, 400, res.text.slice(0, 500));
    assert.equal(res.body.error.code, 'HYPHAE_ERR_BAD_REQUEST');
    const issues = res.body.error.issues ?? [];
    assert.deepEqual(issues.map((i) => i.path).sort(), Object.keys(expected).sort(), JSON.stringify(issues));
    for (const issue of issues) assert.match(issue.message, expected[issue.path]!, issue.path);
  }

  it('65 labels: 400, one issue at labels naming the count', async () => {
    const labels = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    await refused({ labels }, { labels: /65 labels; at most 64/ });
  });

  it("a 64-character label name, a 64-character value, a 254-character prefix: 400 each, at the label's path", async () => {
    const longName = 'n'.repeat(64);
    await refused({ labels: { [longName]: 'v' } }, { [`labels.${longName}`]: /is 64 characters; at most 63/ });
    await refused({ labels: { [`example.com/${longName}`]: 'v' } }, { [`labels.example.com/${longName}`]: /is 64 characters; at most 63/ });
    await refused({ labels: { version: 'v'.repeat(64) } }, { 'labels.version': /label value is 64 characters; at most 63/ });
    const prefix254 = `${PREFIX_253}s`;
    await refused({ labels: { [`${prefix254}/x`]: '' } }, { [`labels.${prefix254}/x`]: /prefix is 254 characters; at most 253/ });
  });

  it('bad key syntax: every problem listed at once', async () => {
    await refused(
      { labels: { 'a/b/c': 'x', '/x': 'x', 'Example.COM/x': 'x', 'under_score.example/x': 'x', '-x': 'x', 'x.': 'x', 'bad key!': 'x', ok: '-starts-with-dash' } },
      {
        'labels.a/b/c': /has 2 "\/"/,
        'labels./x': /prefix before "\/" is empty/,
        'labels.Example.COM/x': /lower-case DNS subdomain/,
        'labels.under_score.example/x': /lower-case DNS subdomain/,
        'labels.-x': /starting and ending with a letter or digit/,
        'labels.x.': /starting and ending with a letter or digit/,
        'labels.bad key!': /must be letters, digits/,
        'labels.ok': /label value "-starts-with-dash" must be empty or/,
      },
    );
  });

  it('past 64 listed label problems, the rest are counted, not listed', async () => {
    const labels = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`bad key ${i}`, 'v']));
    const res = await post({ labels });
    assert.equal(res.status, 400);
    const issues = res.body.error.issues ?? [];
    assert.equal(issues.filter((i) => i.path.startsWith('labels.bad key')).length, 64);
    assert.ok(
      issues.some((i) => i.path === 'labels' && /100 labels; at most 64/.test(i.message)),
      JSON.stringify(issues.slice(0, 3)),
    );
    assert.ok(issues.some((i) => i.path === 'labels' && /36 more label problems not listed/.test(i.message)));
  });

  it('the limits themselves are accepted: 64 labels, a 253-character prefix, 63-character names and values, empty values', async () => {
    const labels: Record<string, string> = { 'app.kubernetes.io/name': 'api', empty: '' };
    for (let i = 0; Object.keys(labels).length < 64; i++) labels[`${PREFIX_253}/${String(i).padStart(2, '0')}${'n'.repeat(61)}`] = 'v'.repeat(63);
    const res = await post({ labels });
    assert.equal(res.status, 201, res.text.slice(0, 500));
    const listed = await call<{ instances: { labels: Record<string, string> }[] }>(cp.url, 'GET', '/v1/instances?service=api');
    assert.deepEqual(listed.body.instances.at(-1)!.labels, labels);
  });

  it('other fields are bounded too: a host name over 253 characters, a weight, a port, a TTL', async () => {
    const host = `${'h'.repeat(63)}.`.repeat(4) + 'com';
    await refused({ address: host, weight: 1001, port: 0, ttlSeconds: 301 }, { address: /address or a host name/, weight: /1000/, port: /1/, ttlSeconds: /300/ });
    const before = await call<{ instances: unknown[] }>(cp.url, 'GET', '/v1/instances?service=api');
    assert.equal(before.body.instances.length, 1, 'only the registration at the limits was taken');
  });
});
