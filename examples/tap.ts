/**
 * `hyphae tap` by its HTTP API: an in-process control plane, an `api` service and a `web` client calling
 * it over mTLS, and a tap of `api` read as the CLI reads it (`GET /v1/tap/<namespace>/<service>`, SSE, the
 * admin token): each request with its verified caller, instance, method, path, status and latency.
 * The same from a shell: `hyphae tap api --max-rps 5 --duration 3s` (docs/usage.md "Tapping requests").
 *
 *   npm run build && node build/examples/tap.js
 */
import http from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { createMesh } from 'hyphae';
import { createControlPlane } from 'hyphae/control-plane';

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-tap-'));
const cp = await createControlPlane({ dataDir, port: 0, log: () => {} });
const ca = await readFile(cp.caFile!, 'utf8');
const admin = (await readFile(cp.adminTokenFile!, 'utf8')).trim();
const dispatcher = new Agent({ connect: { ca } });
const joinToken = async (service: string) => {
  const res = await request(`${cp.url}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ service }),
    dispatcher,
  });
  return ((await res.body.json()) as { token: string }).token;
};

const api = await createMesh({ controlPlane: cp.url, caFile: cp.caFile!, service: 'api', token: await joinToken('api'), server: { drainDelayMs: 0 } });
const server = api.wrapServer(http.createServer((_req, res) => res.end('ok')));
server.listen(0, '127.0.0.1');
await api.registered(server);
const web = await createMesh({ controlPlane: cp.url, caFile: cp.caFile!, service: 'web', token: await joinToken('web') });

// Traffic while the tap is open: a bounded loop, stopped when the tap ends.
let calling = true;
const traffic = (async () => {
  for (let i = 0; calling && i < 10_000; i++) {
    const res = await web.request(`http://api/items/${i}?secret=never-shown`);
    await res.body.dump();
  }
})();

try {
  const tap = await request(`${cp.url}/v1/tap/default/api?maxRps=5&duration=3s`, { headers: { authorization: `Bearer ${admin}` }, dispatcher, bodyTimeout: 60_000 });
  console.log(`GET /v1/tap/default/api: ${tap.statusCode} ${String(tap.headers['content-type'])}`);
  let buf = '';
  let shown = 0;
  for await (const chunk of tap.body) {
    buf += String(chunk);
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event === 'sample' && shown++ < 3) {
        const s = JSON.parse(data!) as { src?: string; instance: string; method: string; path: string; status: number; latencyMs: number };
        console.log(`req src=${s.src ?? '-'} dst=${s.instance} :method=${s.method} :path=${s.path} status=${s.status} latency=${s.latencyMs}ms`);
      } else if (event === 'end') {
        console.log(`end ${data!}`);
      }
    }
  }
  console.log(`samples: ${shown} (at most 5/s for 3 s, plus one second of burst)`);
} finally {
  calling = false;
  await traffic;
  await web.close();
  await api.close();
  await dispatcher.close();
  await cp.close();
  await rm(dataDir, { recursive: true, force: true });
}
console.log('tap ok');
