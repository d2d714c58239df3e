/**
 * The attacker's pass on peering, both ends. dc2's new endpoints against a real control plane: no
 * credential, a wrong one, an API token in its place, oversized and malformed bodies, bad tokens. dc1's
 * link against a hostile "dc2" (an HTTPS server in this process, its certificate from a root the token
 * names): garbage, another cluster's name, too many instances, an oversized event, silence after the
 * hello. Each time dc1 says why it refused the update, keeps every instance it had imported, and dials
 * again; a good update after all that is taken as usual.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFile, rm } from 'node:fs/promises';
import { after, before, it } from 'node:test';
import type { Instance } from '../../../src/config/instance.js';
import { encodePeeringToken } from '../../../src/control-plane/peering/token.js';
import { MAX_IMPORTED_INSTANCES, MAX_PEER_EVENT_BYTES } from '../../../src/control-plane/peering/limits.js';
import { call, makeTempDir, startControlPlane, watch, type RunningControlPlane, type Watcher } from '../../helpers/control-plane.js';
import { Pki } from '../../helpers/pki.js';

type Behaviour = 'good' | 'good2' | 'garbage' | 'other-cluster' | 'too-many' | 'oversized' | 'silent';

let work: string;
let dc1: RunningControlPlane;
let fake: https.Server;
let behaviour: Behaviour = 'good';
let connections = 0;
let w: Watcher;

const instance = (port: number) => ({ id: `127.0.0.1:${port}`, service: 'api', namespace: 'default', address: '127.0.0.1', port, labels: {}, weight: 1 });
const exportsOf = (cluster: string, instances: object[]) => JSON.stringify({ cluster, services: [{ name: 'api', namespace: 'default', instances }] });
const fromDc2 = (s: { instances: Instance[] }) => s.instances.filter((i) => i.cluster === 'dc2').map((i) => i.port);

before(async () => {
  work = await makeTempDir('hyphae-peer-attacks-');
  const pki = new Pki(work);
  const root = await pki.selfSignedCa('fake-dc2-root');
  const leaf = await pki.keyAndCsr('fake-dc2', '127.0.0.1');
  const cert = await pki.sign(leaf.csr, root, { san: ['IP:127.0.0.1'], eku: 'serverAuth' }, 'fake-dc2.pem');
  fake = https.createServer({ cert: await readFile(cert), key: await readFile(leaf.key) }, (req, res) => {
    connections++;
    if (req.url !== '/v1/peering/stream' || !/^Bearer dc1\.[A-Za-z0-9_-]{43}$/.test(req.headers.authorization ?? '')) {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(`event: hello\ndata: ${JSON.stringify({ streamId: 'x', revision: 1, heartbeatMs: 200 })}\n\n`);
    const send = (data: string) => res.write(`event: exports\ndata: ${data}\n\n`);
    switch (behaviour) {
      case 'good':
        send(exportsOf('dc2', [instance(7001), instance(7002)]));
        break;
      case 'good2':
        send(exportsOf('dc2', [instance(7005)]));
        break;
      case 'garbage':
        send('{"cluster": "dc2", "services": [nonsense');
        break;
      case 'other-cluster':
        send(exportsOf('dc9', [instance(7003)]));
        break;
      case 'too-many':
        send(
          exportsOf(
            'dc2',
            Array.from({ length: MAX_IMPORTED_INSTANCES + 1 }, (_, i) => instance(1 + (i % 65000))),
          ),
        );
        break;
      case 'oversized':
        res.write(`event: exports\ndata: "${'x'.repeat(MAX_PEER_EVENT_BYTES + 1024)}`);
        break;
      case 'silent':
        // Headers and hello, then nothing: no event, no heartbeat, the connection left open.
        return;
    }
    // Heartbeats keep a good stream open for a while; then it ends, and dc1 dials again (and meets what comes next).
    const ping = setInterval(() => res.write(': ping\n\n'), 100);
    const end = setTimeout(() => {
      clearInterval(ping);
      res.end();
    }, 500);
    res.on('close', () => {
      clearInterval(ping);
      clearTimeout(end);
    });
  });
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
  dc1 = await startControlPlane({ args: ['--cluster', 'dc1'] });
  w = await watch(dc1.url, ['api']);
  const token = encodePeeringToken({
    cluster: 'dc2',
    peer: 'dc1',
    addresses: [`https://127.0.0.1:${(fake.address() as AddressInfo).port}`],
    ca: await readFile(root.cert, 'utf8'),
    secret: randomBytes(32).toString('base64url'),
  });
  const res = await call(dc1.url, 'POST', '/v1/peerings', { token });
  assert.equal(res.status, 201, res.text);
});

after(async () => {
  await w?.close();
  await dc1?.stop();
  fake?.closeAllConnections();
  fake?.close();
  await rm(work, { recursive: true, force: true });
});

it('dc1 imports from the peer, then keeps what it imported through every bad update, each refused with its reason', async () => {
  await w.waitForService('api', (s) => fromDc2(s).length === 2, 20_000);
  const cases: [Behaviour, RegExp][] = [
    ['garbage', /update from peer dc2 refused, imports kept as they were: it is not JSON/],
    ['other-cluster', /refused, imports kept as they were: it comes from cluster "dc9", not "dc2"/],
    ['too-many', new RegExp(`refused, imports kept as they were: it carries more than ${MAX_IMPORTED_INSTANCES} instances`)],
    ['oversized', new RegExp(`link down \\(the peer sent an event of more than ${MAX_PEER_EVENT_BYTES} bytes`)],
    ['silent', /link down \(no event nor heartbeat for 1000 ms\)/],
  ];
  for (const [b, expected] of cases) {
    const before = connections;
    behaviour = b;
    await dc1.child.waitFor(expected, 30_000);
    assert.ok(connections > before, `dc1 dialled again for ${b}`);
    assert.deepEqual(fromDc2(w.latest('api')!).sort(), [7001, 7002], `imports kept after ${b}`);
  }
  behaviour = 'good2';
  await w.waitForService('api', (s) => fromDc2(s).join() === '7005', 30_000);
});

it("dc2's peering endpoints refuse what is not theirs: no or wrong credential, API tokens, bad bodies and tokens", async () => {
  const dc2 = await startControlPlane({ args: ['--cluster', 'dc2'], bodyLimitBytes: 64 * 1024 });
  try {
    const stream = (authorization?: string) => call(dc2.url, 'GET', '/v1/peering/stream', undefined, { token: null, headers: authorization ? { authorization } : {} });
    assert.equal((await stream()).status, 401);
    assert.equal((await stream(`Bearer dc1.${randomBytes(32).toString('base64url')}`)).status, 401, 'no such peering');
    const made = await call<{ token: string }>(dc2.url, 'POST', '/v1/peerings/tokens', { peer: 'dc1', addresses: [dc2.url] });
    assert.equal(made.status, 201, made.text);
    assert.equal((await stream(`Bearer dc1.${randomBytes(32).toString('base64url')}`)).status, 401, 'wrong secret');
    assert.equal((await stream(`Bearer ${dc2.adminToken!}`)).status, 401, 'the admin token is no peer credential');
    assert.equal((await stream(`Bearer ${await dc2.joinToken('web')}`)).status, 401, 'a join token is no peer credential');
    assert.equal((await stream(`Bearer dc1.${'a'.repeat(10_000)}`)).status, 401);
    assert.equal((await stream(`Bearer dc1.${'a'.repeat(100_000)}`)).status, 431, 'past the header limit');

    // Token requests: admin only, bounded, checked.
    assert.equal((await call(dc2.url, 'POST', '/v1/peerings/tokens', { peer: 'dc1', addresses: [dc2.url] }, { token: await dc2.joinToken('web') })).status, 403);
    assert.equal((await call(dc2.url, 'POST', '/v1/peerings/tokens', { peer: 'dc1', addresses: ['http://127.0.0.1:1'] })).status, 400, 'plain http');
    assert.equal((await call(dc2.url, 'POST', '/v1/peerings/tokens', { peer: 'DC1', addresses: [dc2.url] })).status, 400, 'not a cluster name');
    assert.equal((await call(dc2.url, 'POST', '/v1/peerings/tokens', { peer: 'dc1', addresses: [`${dc2.url}/x`] })).status, 400, 'a path');
    const huge = await call(dc2.url, 'POST', '/v1/peerings', { token: 'x'.repeat(200 * 1024) });
    assert.equal(huge.status, 413, huge.text);

    // Tokens that are not, or not for this cluster.
    for (const token of ['nonsense', 'hyphae-peering-v1.%%%', `hyphae-peering-v1.${Buffer.from('{"cluster":1}').toString('base64url')}`]) {
      const res = await call(dc2.url, 'POST', '/v1/peerings', { token });
      assert.equal(res.status, 400, res.text);
      assert.match(res.text, /HYPHAE_ERR_PEERING_TOKEN_INVALID/);
    }
    const forOther = encodePeeringToken({ cluster: 'dc3', peer: 'dc7', addresses: ['https://127.0.0.1:1'], ca: 'x', secret: randomBytes(32).toString('base64url') });
    const other = await call<{ error: { message: string } }>(dc2.url, 'POST', '/v1/peerings', { token: forOther });
    assert.equal(other.status, 400);
    assert.match(other.body.error.message, /made for cluster "dc7", not for this one \("dc2"\)/);
    assert.equal((await call(dc2.url, 'DELETE', '/v1/peerings/nobody')).status, 404);
    assert.equal((await call(dc2.url, 'GET', '/v1/peerings', undefined, { token: null })).status, 401);
  } finally {
    await dc2.stop();
  }
});
