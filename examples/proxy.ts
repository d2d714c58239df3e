/**
 * A Python service in the mesh with `hyphae proxy` (a sidecar for workloads
 * that are not Node): a control plane with its CA, the Node `api` service,
 * the Python app (examples/python/app.py) behind a proxy, and a Node caller.
 *
 *   web (Node) --mTLS--> hyphae proxy --loopback--> app.py --HTTP_PROXY--> hyphae proxy --mTLS--> api (Node)
 *
 *   npm run build && node build/examples/proxy.js      (needs python3)
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { createMesh } from 'hyphae';
import { createControlPlane } from 'hyphae/control-plane';
import { buildDir, cliPath, killAllChildren, repoRoot, startCommand, startNode } from './lib/child.js';

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-proxy-example-'));
const cp = await createControlPlane({ port: 0, dataDir, log: () => {} });
const caFile = cp.caFile!;
const adminToken = (await readFile(cp.adminTokenFile!, 'utf8')).trim();
const admin = new Agent({ connect: { ca: await readFile(caFile, 'utf8') } });

/** A join token for a workload (what `hyphae token create --service <name>` prints). */
async function joinToken(service: string): Promise<string> {
  const res = await request(`${cp.url}/v1/tokens`, {
    method: 'POST',
    dispatcher: admin,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ service }),
  });
  return ((await res.body.json()) as { token: string }).token;
}
const envFor = async (service: string) => ({ HYPHAE_CONTROL_PLANE: cp.url, HYPHAE_CA_FILE: caFile, HYPHAE_TOKEN: await joinToken(service) });

// A free port for the Python app: the proxy is told where the app will be before it starts.
const appPort = await new Promise<number>((resolve) => {
  const probe = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = probe.address() as AddressInfo;
    probe.close(() => resolve(port));
  });
});

try {
  const api = startNode(path.join(buildDir, 'examples/api/server.js'), [], await envFor('api'));
  await api.waitFor(/ready service=api/);

  const proxy = startNode(
    cliPath,
    ['proxy', '--service', 'legacy', '--upstream', `127.0.0.1:${appPort}`, '--listen', '127.0.0.1:0', '--outbound', '127.0.0.1:0', '--health-interval', '300ms'],
    await envFor('legacy'),
  );
  const [, outbound] = await proxy.waitFor(/hyphae proxy: ready .* outbound=(\S+)/);
  console.log(`proxy for legacy: outbound listener on ${outbound}`);

  const app = startCommand('python3', [path.join(repoRoot, 'examples/python/app.py'), '--port', String(appPort)], { HTTP_PROXY: `http://${outbound}`, NO_PROXY: '' });
  await app.waitFor(/python app listening/);
  // The proxy registers the instance once its health check finds the app answering.
  await proxy.waitFor(/hyphae proxy: registered/);

  // HTTP/1.1 on the mesh's raw transport, as the proxy's own hops (mesh option http1Transport; default undici).
  const web = await createMesh({ controlPlane: cp.url, caFile, service: 'web', token: await joinToken('web'), cacheDir: false, http1Transport: 'raw' });
  const res = await web.request('http://legacy/');
  const answer = (await res.body.json()) as { service: string; caller: string; api: { service: string; peer: string } };
  console.log(`${answer.service} (Python) answered ${res.statusCode}`);
  console.log(`python saw its caller as ${answer.caller}`);
  console.log(`python called ${answer.api.service} through the proxy; api saw ${answer.api.peer}`);
  await web.close();
  // SIGTERM: the proxy deregisters, drains and exits 0.
  console.log(`proxy exit code ${await proxy.kill('SIGTERM')}`);
  await app.kill();
  await api.kill();
  console.log('proxy example ok');
} finally {
  killAllChildren();
  await admin.close();
  await cp.close();
  await rm(dataDir, { recursive: true, force: true });
}
