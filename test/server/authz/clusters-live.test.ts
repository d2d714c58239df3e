/**
 * Authorization by cluster with real processes (issue 17): two control planes (`--cluster dc1`,
 * `--cluster dc2`), each with its own intermediate under one root made here with openssl. A server in
 * dc2 is called over direct mTLS on loopback by `web` of dc1 and `web` of dc2 (a static resolver gives
 * them its address: no peering needed), and by a `web` whose certificate comes from a CA older than
 * clusters (made with openssl under dc1's intermediate: no OU). Their SPIFFE IDs are the same; only
 * the cluster their certificate names tells them apart, and the policies in force decide.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { createMesh, getPeer, type Mesh } from '../../../src/index.js';
import { StaticResolver } from '../../../src/discovery/static-resolver.js';
import { call, makeTempDir, startControlPlane, type RunningControlPlane } from '../../helpers/control-plane.js';
import { apply, meta } from '../../helpers/gateway.js';
import { Pki } from '../../helpers/pki.js';
import { clusterCas } from '../../../examples/lib/cluster-pki.js';
import { waitUntil } from '../../helpers/services.js';

const WEB_ID = 'spiffe://hyphae.local/ns/default/sa/web';
/** Ceiling for a policy change to reach the server (normally tens of ms). */
const POLICY_CEILING_MS = 20_000;

/** What the server answers: the caller as getPeer(req) gives it. */
interface Who {
  peer: string | null;
  cluster: string | null;
}

type Seen = { status: number } & Partial<Who>;

let work: string;
let dc1: RunningControlPlane;
let dc2: RunningControlPlane;
let server: http.Server;
const meshes: Mesh[] = [];
/** One caller per kind of certificate: what each got back for GET /who. */
let callers: Record<'dc1' | 'dc2' | 'old', () => Promise<Seen>>;

before(async () => {
  work = await makeTempDir('hyphae-authz-clusters-');
  const pki = new Pki(work);
  const { root, intermediates, flags } = await clusterCas(work, ['dc1', 'dc2'] as const);
  [dc1, dc2] = await Promise.all([startControlPlane({ args: ['--cluster', 'dc1', ...flags.dc1] }), startControlPlane({ args: ['--cluster', 'dc2', ...flags.dc2] })]);

  const apiMesh = await createMesh(await dc2.meshOptions('api'));
  meshes.push(apiMesh);
  server = apiMesh.wrapServer(
    http.createServer((req, res) => {
      const peer = getPeer(req);
      res.end(JSON.stringify({ peer: peer?.id ?? null, cluster: peer?.cluster ?? null }));
    }),
  );
  server.listen(0, '127.0.0.1');
  await apiMesh.registered(server);
  const port = (server.address() as AddressInfo).port;

  const meshCaller = async (cp: RunningControlPlane, cluster: string | undefined) => {
    const resolver = new StaticResolver({ api: [{ address: '127.0.0.1', port, ...(cluster ? { cluster } : {}) }] });
    const mesh = await createMesh({ ...(await cp.meshOptions('web')), resolver });
    meshes.push(mesh);
    return async (): Promise<Seen> => {
      const res = await mesh.request('http://api/who');
      const text = await res.body.text();
      return res.statusCode === 200 ? { status: 200, ...(JSON.parse(text) as Who) } : { status: res.statusCode };
    };
  };

  // A leaf as a control plane before clusters issued it: the same SPIFFE ID, no OU (a CN, as foreign CAs write).
  const { key, csr } = await pki.keyAndCsr('old-web', 'web');
  const leaf = await pki.sign(csr, intermediates.dc1, { san: [`URI:${WEB_ID}`], eku: 'clientAuth,serverAuth' }, 'old-web.pem');
  const tls = {
    cert: (await readFile(leaf, 'utf8')) + (await readFile(intermediates.dc1.cert, 'utf8')),
    key: await readFile(key, 'utf8'),
    ca: await readFile(root.cert, 'utf8'),
  };
  const oldCaller = () =>
    new Promise<Seen>((resolve, reject) => {
      // The server's identity is not what this test is about (mesh calls check it): only the caller's certificate differs.
      const req = https.get({ host: '127.0.0.1', port, path: '/who', agent: false, ...tls, checkServerIdentity: () => undefined }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve(res.statusCode === 200 ? { status: 200, ...(JSON.parse(text) as Who) } : { status: res.statusCode! }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });

  callers = { dc1: await meshCaller(dc1, 'dc2'), dc2: await meshCaller(dc2, undefined), old: oldCaller };
});

after(async () => {
  for (const m of meshes) await m.close().catch(() => {});
  server?.closeAllConnections();
  await Promise.all([dc1?.stop(), dc2?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

async function statuses(): Promise<Record<'dc1' | 'dc2' | 'old', number>> {
  const [a, b, c] = await Promise.all([callers.dc1(), callers.dc2(), callers.old()]);
  return { dc1: a.status, dc2: b.status, old: c.status };
}

const policy = (name: string, action: 'ALLOW' | 'DENY', from: object) => ({
  apiVersion: 'hyphae.dev/v1',
  kind: 'AuthorizationPolicy',
  metadata: meta(name),
  spec: { selector: { service: 'api' }, action, rules: [{ from }] },
});

/** Apply `policy` (after deleting `previous`), and wait until the callers get `want`: the change has reached the server. */
async function switchTo(previous: string | undefined, next: ReturnType<typeof policy>, want: Record<'dc1' | 'dc2' | 'old', number>): Promise<void> {
  if (previous) assert.equal((await call(dc2.url, 'DELETE', `/v1/resources/AuthorizationPolicy/default/${previous}`)).status, 200);
  await apply(dc2, next);
  let last: Record<string, number> = {};
  await waitUntil(async () => {
    last = await statuses();
    return JSON.stringify(last) === JSON.stringify(want);
  }, POLICY_CEILING_MS).catch((err: unknown) => assert.fail(`${(err as Error).message}: last ${JSON.stringify(last)}, want ${JSON.stringify(want)}`));
  // And it stays so: the next round of calls agrees.
  assert.deepEqual(await statuses(), want);
}

it("getPeer(req) gives each caller's cluster from its certificate; one from an older CA names none", async () => {
  const [a, b, c] = await Promise.all([callers.dc1(), callers.dc2(), callers.old()]);
  assert.deepEqual(a, { status: 200, peer: WEB_ID, cluster: 'dc1' });
  assert.deepEqual(b, { status: 200, peer: WEB_ID, cluster: 'dc2' });
  assert.deepEqual(c, { status: 200, peer: WEB_ID, cluster: null });
});

it('ALLOW clusters [dc1]: only dc1 gets through; dc2 and the certificate without a cluster get 403', async () => {
  await switchTo(undefined, policy('from-dc1', 'ALLOW', { clusters: ['dc1'] }), { dc1: 200, dc2: 403, old: 403 });
});

it('DENY clusters [dc1]: dc1 gets 403; dc2 and the certificate without a cluster get through', async () => {
  await switchTo('from-dc1', policy('not-dc1', 'DENY', { clusters: ['dc1'] }), { dc1: 403, dc2: 200, old: 200 });
});

it('DENY notClusters [dc1, dc2]: the certificate without a cluster is refused, both clusters get through', async () => {
  await switchTo('not-dc1', policy('known-only', 'DENY', { notClusters: ['dc1', 'dc2'] }), { dc1: 200, dc2: 200, old: 403 });
});
