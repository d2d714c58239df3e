/**
 * Issue 3, must-show 2: foreign peers, Debian's `openssl s_client` and `curl`,
 * against a service built with the library (STRICT, the default). With a
 * certificate from the mesh CA (key and CSR by `openssl req`, signed through
 * the API by `curl` with a join token) the request succeeds. Refused, before
 * any HTTP: no certificate, another CA's, an expired one, two URI SANs,
 * serverAuth only, a CA certificate as the leaf, the mesh root itself. The bad
 * certificates are made with openssl (`x509 -req`, `ca` for the dates) in a
 * temporary directory, signed with the mesh CA's key taken from the control
 * plane's data directory, as someone with that disk could.
 *
 * curl runs with -k: it cannot check a SPIFFE ID (a URI SAN), and what is under
 * test here is the server checking the client. s_client verifies the server's
 * chain against the bundle (-CAfile, -verify_return_error).
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import { createMesh, getPeer, type Mesh } from '../../src/index.js';
import type { Logger } from '../../src/core/logger.js';
import { makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { Pki, run } from '../helpers/pki.js';

const TD = 'spiffe://hyphae.local';
const FOREIGN = `${TD}/ns/default/sa/foreign`;

let cp: RunningControlPlane;
let mesh: Mesh;
let port: number;
let dir: string;
let pki: Pki;
const hits: (string | null)[] = [];
const refusals: string[] = [];

const logger: Logger = {
  debug: (m, f) => m.includes('refused') && refusals.push(String(f?.reason)),
  info: () => {},
  warn: (m, f) => m.includes('refused') && refusals.push(String(f?.reason)),
  error: () => {},
};

before(async () => {
  cp = await startControlPlane();
  mesh = await createMesh({ ...(await cp.meshOptions('api')), logger });
  const server = mesh.wrapServer(
    http.createServer((req, res) => {
      hits.push(getPeer(req)?.id ?? null);
      res.end(`hello ${getPeer(req)?.id}\n`);
    }),
  );
  server.listen(0, '127.0.0.1');
  await mesh.registered(server);
  port = (server.address() as AddressInfo).port;
  dir = await makeTempDir('hyphae-foreign-');
  pki = new Pki(dir);
});

after(async () => {
  await mesh?.close();
  await cp?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function curl(cert?: { cert: string; key: string }): Promise<{ code: number; out: string }> {
  const args = ['-sS', '-k', '--max-time', '5', `https://127.0.0.1:${port}/hello`];
  if (cert) args.push('--cert', cert.cert, '--key', cert.key);
  const r = await run('curl', args);
  return { code: r.code, out: r.stdout + r.stderr };
}

async function sClient(cert?: { cert: string; key: string }): Promise<string> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', cp.caFile!, '-verify_return_error', '-quiet'];
  if (cert) args.push('-cert', cert.cert, '-key', cert.key);
  const r = await run('openssl', args, { input: 'GET /hello HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n', timeoutMs: 10_000 });
  return r.stdout + r.stderr;
}

it('with a certificate from the mesh CA (openssl req + curl to POST /v1/certificates), curl and s_client get an answer as that identity', async () => {
  const { key, csr } = await pki.keyAndCsr('foreign', 'foreign', [`URI:${FOREIGN}`]);
  const token = await cp.joinToken('foreign');
  await writeFile(pki.file('req.json'), JSON.stringify({ csr: await readFile(csr, 'utf8') }));
  // curl verifies the control plane properly: its certificate has 127.0.0.1 among its SANs.
  const issued = await run('curl', [
    '-sS',
    '--fail-with-body',
    '--cacert',
    cp.caFile!,
    '-H',
    `Authorization: Bearer ${token}`,
    '-H',
    'content-type: application/json',
    '--data-binary',
    `@${pki.file('req.json')}`,
    `${cp.url}/v1/certificates`,
  ]);
  assert.equal(issued.code, 0, issued.stdout + issued.stderr);
  const answer = JSON.parse(issued.stdout) as { spiffeId: string; certificate: string; chain: string[] };
  assert.equal(answer.spiffeId, FOREIGN);
  const cert = pki.file('foreign.pem');
  await writeFile(cert, answer.certificate + answer.chain.join(''));

  const c = await curl({ cert, key });
  assert.equal(c.code, 0, c.out);
  assert.equal(c.out, `hello ${FOREIGN}\n`);
  const s = await sClient({ cert, key });
  assert.match(s, /HTTP\/1\.1 200 OK/, s);
  assert.match(s, new RegExp(`hello ${FOREIGN}`));
  assert.deepEqual(hits, [FOREIGN, FOREIGN]);
  console.log(`mesh-CA certificate: curl exit ${c.code}, s_client got 200; api saw ${FOREIGN} twice`);
});

it('refuses, before any HTTP: no certificate, another CA, expired, two URI SANs, serverAuth only, a CA as leaf, the mesh root itself', async () => {
  const meshCa = await pki.meshCa(cp.dataDir);
  const otherCa = await pki.selfSignedCa('other-ca');
  const good = { san: [`URI:${FOREIGN}`], eku: 'clientAuth,serverAuth' };
  const leaf = async (name: string, ca: { cert: string; key: string }, ext: Parameters<Pki['sign']>[2]) => {
    const { key, csr } = await pki.keyAndCsr(name, name);
    return { key, cert: await pki.sign(csr, ca, ext, `${name}.pem`) };
  };
  const expired = await (async () => {
    const { key, csr } = await pki.keyAndCsr('expired', 'expired');
    return { key, cert: await pki.signDated(csr, meshCa, good, 'expired.pem', '20200101000000Z', '20200102000000Z') };
  })();
  const cases: [string, { cert: string; key: string } | undefined, RegExp][] = [
    ['no certificate', undefined, /^no client certificate$/],
    ['another CA', await leaf('other', otherCa, good), /not trusted: UNABLE_TO_VERIFY_LEAF_SIGNATURE/],
    ['expired', expired, /not trusted: CERT_HAS_EXPIRED/],
    ['two URI SANs', await leaf('two-sans', meshCa, { ...good, san: [`URI:${FOREIGN}`, `URI:${TD}/ns/default/sa/web`] }), /has 2 URI SANs/],
    ['serverAuth only', await leaf('server-only', meshCa, { ...good, eku: 'serverAuth' }), /not trusted: INVALID_PURPOSE/],
    ['CA certificate as leaf', await leaf('ca-leaf', meshCa, { ...good, ca: true }), /is a CA certificate/],
    ['the mesh root itself', meshCa, /is a CA certificate/],
  ];
  const rows: string[] = [];
  for (const [name, cert, reason] of cases) {
    const hitsBefore = hits.length;
    const refusedBefore = refusals.length;
    const c = await curl(cert);
    const s = await sClient(cert);
    assert.notEqual(c.code, 0, `${name}: curl succeeded: ${c.out}`);
    assert.ok(!c.out.includes('hello'), `${name}: curl got an answer`);
    assert.doesNotMatch(s, /HTTP\/1\.1/, `${name}: s_client got an HTTP answer`);
    assert.equal(hits.length, hitsBefore, `${name}: the handler ran`);
    const why = refusals.slice(refusedBefore);
    // One refusal per client (curl, s_client), each for the expected reason.
    assert.equal(why.length, 2, `${name}: refusals ${JSON.stringify(why)}`);
    assert.ok(
      why.every((w) => reason.test(w)),
      `${name}: refusals ${JSON.stringify(why)}`,
    );
    rows.push(`  ${name.padEnd(24)} curl exit ${String(c.code).padEnd(3)} refused: ${why[0]}`);
  }
  console.log(`refused foreign peers (handler runs: ${hits.length}, all from the first test):\n${rows.join('\n')}`);
});
