/**
 * A workload certificate cannot pass as the control plane's (review P2-5).
 * Node's TLS client checks the host name against the subject CN when a
 * certificate has no DNS SAN; an SVID with CN=<service> was therefore a
 * valid server certificate for https://<service>:port, signed by the CA every
 * client trusts. Here a workload whose service is named `localhost` gets its
 * SVID from the real CA and serves TLS with it on loopback; the control-plane
 * client (and curl, as a foreign client) dialing https://localhost:<port> must
 * refuse it, while the real control plane, reached the same way, is accepted.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, it } from 'node:test';
import type { CertificateResponse } from '../../src/config/wire.js';
import { ControlPlaneClient } from '../../src/discovery/control-plane-client.js';
import { createCsr } from '../../src/tls/csr.js';
import { generateKeyPair } from '../../src/tls/keys.js';
import { call, makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { run } from '../helpers/pki.js';

let cp: RunningControlPlane;
let impostor: https.Server;
let dir: string;

before(async () => {
  cp = await startControlPlane();
  dir = await makeTempDir('hyphae-impostor-');
});

after(async () => {
  await new Promise((resolve) => (impostor ? impostor.close(resolve) : resolve(undefined)));
  await cp?.stop();
});

it('an SVID has no subject CN, a critical URI SAN only, and cannot serve as the control plane for a host named like its service', async () => {
  const keys = await generateKeyPair();
  const token = await cp.joinToken('localhost');
  const csr = createCsr(keys, { trustDomain: 'hyphae.local', namespace: 'default', service: 'localhost' });
  const signed = await call<CertificateResponse>(cp.url, 'POST', '/v1/certificates', { csr }, { token });
  assert.equal(signed.status, 200, signed.text);
  const svid = new X509Certificate(signed.body.certificate);
  // Nothing in the subject but the control plane's cluster (its default name here): no CN a TLS client could take for a host.
  assert.equal(svid.subject, 'OU=default', 'no subject CN in the SVID');
  assert.equal(svid.subjectAltName, 'URI:spiffe://hyphae.local/ns/default/sa/localhost');
  // Critical: a relying party that does not understand the SAN must refuse rather than look at an empty subject.
  const der = svid.raw.toString('hex');
  assert.ok(der.includes('0603551d110101ff'), 'the subjectAltName extension is marked critical');

  // The impostor: the workload's own key and SVID, on loopback, answering like a control plane.
  impostor = https.createServer({ key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }), cert: signed.body.certificate }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  });
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  const port = (impostor.address() as AddressInfo).port;

  const client = new ControlPlaneClient([`https://localhost:${port}`], { ca: cp.ca!, token });
  try {
    await assert.rejects(client.health(), (err: Error) => {
      assert.match(`${err.message} ${String((err.cause as Error | undefined)?.message)}`, /altnames|Hostname\/IP does not match|certificate/i);
      return true;
    });
  } finally {
    await client.close?.();
  }
  // A foreign client with the mesh's CA file refuses it too.
  const caFile = path.join(dir, 'ca.pem');
  await writeFile(caFile, cp.ca!);
  const curl = await run('curl', ['-sS', '--cacert', caFile, '--resolve', `localhost:${port}:127.0.0.1`, `https://localhost:${port}/v1/health`]);
  assert.notEqual(curl.code, 0, `curl accepted the impostor: ${curl.stdout}`);
  assert.match(curl.stderr, /certificate|subject name|SSL/i);

  // The real control plane, reached by the same name, is accepted by both.
  const real = new ControlPlaneClient([cp.url.replace('127.0.0.1', 'localhost')], { ca: cp.ca!, token });
  try {
    assert.equal((await real.health()).status, 'ok');
  } finally {
    await real.close?.();
  }
  const ok = await run('curl', ['-sS', '--cacert', caFile, `${cp.url.replace('127.0.0.1', 'localhost')}/v1/health`]);
  assert.equal(ok.code, 0, ok.stderr);
});
