/**
 * examples/gateway.ts runs as documented: with a Gateway and a Route applied,
 * it serves the Gateway's port, curl reaches the Route's backend through it,
 * and SIGTERM drains it to exit 0.
 */
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { apply, curl, meta, startBackend, type Backend, type Echo } from '../helpers/gateway.js';
import { buildDir, startNode } from '../helpers/process.js';
import { within } from '../helpers/hostile-peers.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('examples/gateway.ts', () => {
  let cp: RunningControlPlane;
  let web: Backend;

  before(async () => {
    cp = await startControlPlane();
    web = await startBackend(cp, 'web');
  });
  after(async () => {
    await web?.close();
    await cp?.stop();
  });

  it('serves the Gateway, reaches the backend over mTLS as the gateway, and drains on SIGTERM', async () => {
    const port = await freePort();
    await apply(
      cp,
      { apiVersion: 'hyphae.dev/v1', kind: 'Gateway', metadata: meta('edge'), spec: { listeners: [{ name: 'http', port, protocol: 'HTTP' }] } },
      { apiVersion: 'hyphae.dev/v1', kind: 'Route', metadata: meta('web'), spec: { parentRefs: [{ kind: 'Gateway', name: 'edge' }], rules: [{ backendRefs: [{ name: 'web' }] }] } },
    );
    const child = startNode(path.join(buildDir, 'examples/gateway.js'), [], { ...(await cp.env('edge')), GATEWAY: 'edge', GATEWAY_ADMIN_PORT: '0' });
    try {
      await child.waitFor(new RegExp(`Gateway port ${port} listening`), 60_000);
      const r = await curl([`http://127.0.0.1:${port}/from-outside`]);
      assert.equal(r.status, 200, r.body);
      const e = JSON.parse(r.body) as Echo;
      assert.equal(e.service, 'web');
      assert.match(e.peer ?? '', /\/ns\/default\/sa\/edge$/);
      child.proc.kill('SIGTERM');
      assert.equal(await within(child.exited, 60_000), 0);
    } finally {
      await child.kill();
    }
  });
});
