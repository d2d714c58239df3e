/**
 * A service that sends an interim answer first (103 Early Hints, RFC 8297) and then its response: every mesh
 * call path gets the final status and body. undici tells its handler of each interim answer as of a response
 * (onHeaders with 103, then 200), and an attempt that took the first as the response answered 103 with the
 * final answer's body. Real loopback servers, a static resolver.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request as undiciRequest } from 'undici';
import { createMesh, type Mesh } from '../../../src/index.js';
import { StaticResolver } from '../../../src/extend.js';

describe('interim answers before the response', () => {
  let server: http.Server;
  let mesh: Mesh;

  before(async () => {
    server = http.createServer((req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      // The final answer in a later write than the hints, as a service that looks something up first sends it.
      setImmediate(() => res.writeHead(200, { 'content-type': 'text/plain', 'x-final': 'yes' }).end(`final ${req.method}`));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const resolver = new StaticResolver({ hinted: [{ address: '127.0.0.1', port: (server.address() as AddressInfo).port }] });
    mesh = await createMesh({ resolver });
  });
  after(async () => {
    await mesh.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('mesh.request, mesh.fetch and a dispatcher call answer with the final status, headers and body', async () => {
    const r1 = await mesh.request('http://hinted/a');
    assert.equal(r1.statusCode, 200);
    assert.equal(r1.headers['x-final'], 'yes');
    assert.equal(await r1.body.text(), 'final GET');
    const r2 = await mesh.fetch('http://hinted/b', { method: 'POST', body: 'x' });
    assert.equal(r2.status, 200);
    assert.equal(await r2.text(), 'final POST');
    const r3 = await undiciRequest('http://hinted/c', { dispatcher: mesh.dispatcher });
    assert.equal(r3.statusCode, 200);
    assert.equal(await r3.body.text(), 'final GET');
  });
});
