/**
 * `x-hyphae-rejected` is trusted by mesh clients (a shed request is replayed
 * elsewhere whatever its method), so a wrapped server sends it only for its
 * mesh's own refusals: a handler's copy is dropped. Real servers on loopback.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { silentLogger } from '../../src/core/logger.js';
import { createMesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { wrapServer, type WrapServerOptions } from '../../src/server/wrap-server.js';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

async function serveWrapped(handler: http.RequestListener, options: WrapServerOptions = {}): Promise<number> {
  const server = http.createServer(handler);
  wrapServer(server, { registrar: async () => undefined, logger: silentLogger, defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 1_000 } }, options);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => http.Server.prototype.close.call(server, () => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

describe('refusal header guard (wrapServer)', { timeout: 15_000 }, () => {
  it("drops an x-hyphae-rejected set by the handler (setHeader, writeHead object, list, or after a reason), keeps the mesh's own", async () => {
    const handlerHeaders = { 'X-Hyphae-Rejected': 'shed', 'retry-after': '1' };
    let release: (() => void) | undefined;
    const port = await serveWrapped(
      (req, res) => {
        switch (req.url) {
          case '/set':
            res.statusCode = 503;
            res.setHeader('x-hyphae-rejected', 'shed');
            res.setHeader('x-kept', 'yes');
            res.end('set');
            return;
          case '/object':
            res.writeHead(503, handlerHeaders);
            res.end('object');
            return;
          case '/list':
            res.writeHead(503, ['x-hyphae-rejected', 'shed', 'x-kept', 'yes']);
            res.end('list');
            return;
          case '/reason':
            // The three-argument form: the headers come after a reason phrase.
            res.writeHead(503, 'Busy', { 'x-hyphae-rejected': 'shed', 'x-kept': 'yes' });
            res.end('reason');
            return;
          default:
            // Held until released: fills maxConcurrent so that the mesh itself sheds.
            release = () => res.end('held');
        }
      },
      { maxConcurrent: 1 },
    );
    const agent = new Agent({ connections: 4 });
    closers.push(() => agent.close());
    const url = (path: string) => `http://127.0.0.1:${port}${path}`;

    for (const path of ['/set', '/object', '/list', '/reason']) {
      const res = await request(url(path), { dispatcher: agent });
      assert.equal(res.statusCode, 503, path);
      if (path === '/reason') assert.equal(res.statusText, 'Busy', 'the reason phrase is passed on');
      assert.equal(res.headers['x-hyphae-rejected'], undefined, path);
      assert.equal(res.headers[path === '/object' ? 'retry-after' : 'x-kept'], path === '/object' ? '1' : 'yes', `${path}: other headers kept`);
      assert.equal(await res.body.text(), path.slice(1));
    }
    assert.equal(handlerHeaders['X-Hyphae-Rejected'], 'shed', "the handler's own object is not edited");

    const held = request(url('/hold'), { dispatcher: agent });
    while (release === undefined) await new Promise((r) => setTimeout(r, 5));
    const shed = await request(url('/other'), { dispatcher: agent });
    assert.equal(shed.statusCode, 503);
    assert.equal(shed.headers['x-hyphae-rejected'], 'shed', "the mesh's own refusal still says so");
    await shed.body.text();
    release();
    assert.equal(await (await held).body.text(), 'held');
  });

  it('a handler passing on a downstream shed 503 does not make a mesh client replay its POST', async () => {
    let hits = 0;
    // b's handler copying c's refusal, headers and all.
    const proxying: http.RequestListener = (_req, res) => {
      hits++;
      res.writeHead(503, { 'x-hyphae-rejected': 'shed', 'retry-after': '1', 'content-type': 'text/plain' });
      res.end('downstream shed');
    };
    const ports = [await serveWrapped(proxying), await serveWrapped(proxying)];
    const mesh = await createMesh({ resolver: new StaticResolver({ b: ports.map((port) => ({ address: '127.0.0.1', port })) }), logger: silentLogger });
    closers.push(() => mesh.close());
    const res = await mesh.request('http://b/orders', { method: 'POST', body: 'one order' });
    assert.equal(res.statusCode, 503);
    assert.equal(await res.body.text(), 'downstream shed');
    assert.equal(hits, 1, 'the POST reached one instance once: it was not taken for a refusal and replayed');
  });
});
