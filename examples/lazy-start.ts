/**
 * A mesh made before its control plane is up: `new Mesh(options)` reaches
 * nothing, so a server is wrapped at once (as a module that exports it must),
 * a call while the control plane is down fails with the start's own error, and
 * the next use starts the mesh once the control plane answers. An in-process,
 * plain-HTTP control plane on this machine stands in for a real one.
 *
 *   npm run build && node build/examples/lazy-start.js
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { isMeshError, Mesh } from 'hyphae';
import { createControlPlane } from 'hyphae/control-plane';

// A port where the control plane will be: free now, so the first call finds nothing there.
const port = await new Promise<number>((resolve) => {
  const probe = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address() as AddressInfo;
    probe.close(() => resolve(port));
  });
});

const mesh = new Mesh({
  controlPlane: `http://127.0.0.1:${port}`,
  service: 'hello',
  connectAttempts: 1, // fail fast for the example; the default tries 5 times
  cacheDir: false,
  server: { drainDelayMs: 0 },
});
// Works before the mesh started: registration, policies (and mTLS) wait for the start.
const server = mesh.wrapServer(http.createServer((_req, res) => res.end('hello from a lazily started mesh')));
console.log(`started before the control plane: ${mesh.started}`);

try {
  await mesh.request('http://hello/');
} catch (err) {
  console.log(`a call while the control plane is down: ${isMeshError(err) ? err.code : String(err)}`);
}

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-lazy-start-'));
const cp = await createControlPlane({ port, dataDir, insecure: true, log: () => {} });

// listen() starts the mesh (the failed start is not remembered) and registers the server.
server.listen(0, '127.0.0.1');
const instance = await mesh.registered(server);
console.log(`registered as ${instance?.id ?? '?'}; started: ${mesh.started}`);
const res = await mesh.request('http://hello/');
console.log(`answer: ${await res.body.text()}`);

await mesh.close();
await cp.close();
await rm(dataDir, { recursive: true, force: true });
console.log('lazy-start ok');
