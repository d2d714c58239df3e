/**
 * The peering link is mutual TLS: dc2's control plane (its intermediate under a root shared with dc1)
 * opens `GET /v1/peering/stream` only to a client certificate that chains to its trust bundle and names
 * the control plane of the cluster the peering was made for, together with that peering's secret. Each
 * client certificate here is made with openssl, under the shared root (through dc1's intermediate) or
 * under a root dc2 does not know. The same listener still serves the API and the CLI, which present none.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { Agent, request } from 'undici';
import { call, makeTempDir, startControlPlane, type RunningControlPlane } from '../../helpers/control-plane.js';
import { runCli } from '../../helpers/cli.js';
import { Pki } from '../../helpers/pki.js';

const TD = 'hyphae.local';
let work: string;
let pki: Pki;
let rootPem: string;
let dc1Inter: { cert: string; key: string };
let dc2: RunningControlPlane;
let secret: string;

/** A client certificate (leaf + the intermediate it was signed by, if any) for one URI SAN. */
async function clientCert(name: string, uri: string, signer: { cert: string; key: string }, withChain: boolean): Promise<{ key: string; cert: string }> {
  const leaf = await pki.keyAndCsr(name, name);
  const cert = await pki.sign(leaf.csr, signer, { san: [`URI:${uri}`], eku: 'clientAuth,serverAuth' }, `${name}.pem`);
  const chain = (await readFile(cert, 'utf8')) + (withChain ? await readFile(signer.cert, 'utf8') : '');
  return { key: await readFile(leaf.key, 'utf8'), cert: chain };
}

/** Open the peering stream with dc1's secret, and optionally a client certificate; the status, and the error or first event. */
async function dialStream(client?: { key: string; cert: string }): Promise<{ status: number; text: string }> {
  const agent = new Agent({ connect: { ca: rootPem, ...client } });
  try {
    const res = await request(`${dc2.url}/v1/peering/stream`, {
      headers: { authorization: `Bearer dc1.${secret}`, accept: 'text/event-stream' },
      dispatcher: agent,
      headersTimeout: 10_000,
    });
    if (res.statusCode !== 200) return { status: res.statusCode, text: await res.body.text() };
    let text = '';
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      text += chunk.toString('utf8');
      if (text.includes('\n\n')) break;
    }
    return { status: 200, text };
  } finally {
    await agent.destroy();
  }
}

before(async () => {
  work = await makeTempDir('hyphae-peer-mtls-');
  pki = new Pki(work);
  const root = await pki.selfSignedCa('root');
  rootPem = await readFile(root.cert, 'utf8');
  const inters: Record<string, { cert: string; key: string }> = {};
  for (const dc of ['dc1', 'dc2']) {
    const csr = await pki.keyAndCsr(`${dc}-inter`, `${dc} intermediate`);
    inters[dc] = { cert: await pki.sign(csr.csr, root, { ca: true }, `${dc}-inter.pem`, 2), key: csr.key };
  }
  dc1Inter = inters.dc1!;
  const chain = path.join(work, 'dc2-chain.pem');
  await writeFile(chain, (await readFile(inters.dc2!.cert, 'utf8')) + rootPem);
  dc2 = await startControlPlane({ args: ['--cluster', 'dc2', '--ca-cert', chain, '--ca-key', inters.dc2!.key] });
  const made = await call<{ token: string }>(dc2.url, 'POST', '/v1/peerings/tokens', { peer: 'dc1', addresses: [dc2.url] });
  assert.equal(made.status, 201, made.text);
  const token = JSON.parse(Buffer.from(made.body.token.slice('hyphae-peering-v1.'.length), 'base64url').toString('utf8')) as { secret: string };
  secret = token.secret;
});

after(async () => {
  await dc2?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

it("refuses a link without a client certificate, even with the peering's secret", async () => {
  const res = await dialStream();
  assert.equal(res.status, 401, res.text);
  assert.match(res.text, /client certificate.*none presented/);
});

it('refuses a client certificate from another trust root, though it names dc1', async () => {
  const other = await pki.selfSignedCa('other-root');
  const res = await dialStream(await clientCert('other-dc1', `spiffe://${TD}/hyphae/cluster/dc1/control-plane`, other, false));
  assert.equal(res.status, 401, res.text);
  assert.match(res.text, /client certificate.*refused/);
});

it('refuses a valid certificate of the shared root for another cluster, or for a workload of dc1', async () => {
  for (const [name, uri] of [
    ['dc3-cp', `spiffe://${TD}/hyphae/cluster/dc3/control-plane`],
    ['dc1-web', `spiffe://${TD}/ns/default/sa/web`],
  ] as const) {
    const res = await dialStream(await clientCert(name, uri, dc1Inter, true));
    assert.equal(res.status, 403, `${name}: ${res.text}`);
    assert.match(res.text, new RegExp(`names ${uri.replace(/[.]/g, '\\.')}, not spiffe://hyphae\\.local/hyphae/cluster/dc1/control-plane`));
  }
});

it("opens the link to dc1's control-plane certificate with the secret, and not with a wrong secret", async () => {
  const dc1Cert = await clientCert('dc1-cp', `spiffe://${TD}/hyphae/cluster/dc1/control-plane`, dc1Inter, true);
  const ok = await dialStream(dc1Cert);
  assert.equal(ok.status, 200, ok.text);
  assert.match(ok.text, /^event: hello\n/);
  const right = secret;
  secret = `${right.slice(0, -1)}${right.endsWith('A') ? 'B' : 'A'}`;
  try {
    const wrong = await dialStream(dc1Cert);
    assert.equal(wrong.status, 401, wrong.text);
    assert.match(wrong.text, /peering credential is not valid/);
  } finally {
    secret = right;
  }
});

it('the API and the CLI still work on the same listener without a client certificate', async () => {
  const res = await call<{ peerings: { peer: string }[] }>(dc2.url, 'GET', '/v1/peerings');
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(
    res.body.peerings.map((p) => p.peer),
    ['dc1'],
  );
  const cli = await runCli(['cluster', 'peers', ...dc2.cliFlags]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /dc1\s+exporting/);
});
