/**
 * dc1's client certificate for its peering links, and its rotation: the CA issues it for the control
 * plane's identity (client and server auth, the one URI SAN), it is kept until half its life has gone or
 * the CA changes, and the link asks for it on every attempt, so that the connection after a renewal
 * presents the new one (seen here by an HTTPS server that records each connection's certificate).
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import type { TLSSocket } from 'node:tls';
import { after, before, it } from 'node:test';
import { FileCaStateStore } from '../../../src/control-plane/ca/ca-state.js';
import { CertificateAuthority } from '../../../src/control-plane/ca/certificate-authority.js';
import { LinkCertificate } from '../../../src/control-plane/peering/link-certificate.js';
import { PeerLink } from '../../../src/control-plane/peering/peer-link.js';
import { generateKeyPair } from '../../../src/tls/keys.js';
import { makeTempDir } from '../../helpers/control-plane.js';
import { waitUntil } from '../../helpers/services.js';

let dir: string;
let ca: CertificateAuthority;

before(async () => {
  dir = await makeTempDir('hyphae-link-cert-');
  ca = await CertificateAuthority.open({ store: new FileCaStateStore(dir), trustDomain: 'td', certTtlMs: 3_600_000, log: () => {} });
});

after(async () => {
  ca?.close();
  await rm(dir, { recursive: true, force: true });
});

const leaf = (pem: string) => new X509Certificate(pem);

it("is the control plane's identity, kept until half its life, renewed after, and at once when the CA changes", async () => {
  const lc = new LinkCertificate(ca, 'dc1');
  const t0 = Date.now();
  const first = await lc.get(t0);
  const x = leaf(first.cert);
  assert.equal(x.subjectAltName, 'URI:spiffe://td/hyphae/cluster/dc1/control-plane');
  assert.ok(x.verify(leaf(ca.bundle.roots[0]!).publicKey), 'signed by the CA');
  assert.ok(x.checkPrivateKey(createPrivateKey(first.key)), 'the key that goes with it');
  assert.equal(await lc.get(t0 + 60_000), first, 'kept while young');
  const renewed = await lc.get(Date.parse(x.validTo) - 60_000);
  assert.notEqual(renewed.cert, first.cert, 'renewed past half its life');
  await ca.rotate();
  const afterRotation = await lc.get();
  assert.notEqual(afterRotation.cert, renewed.cert, 'renewed when the CA changed');
});

it('the link presents the renewed certificate on its next connection', async () => {
  const keys = await generateKeyPair();
  const serving = ca.signServing(keys.publicKey.export({ type: 'spki', format: 'pem' }) as string, ['127.0.0.1'], 3_600_000);
  const seen: string[] = [];
  const server = https.createServer(
    {
      key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      cert: [serving.certificate, ...serving.chain].join('\n'),
      ca: ca.bundle.roots,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      seen.push((req.socket as TLSSocket).getPeerCertificate().fingerprint256);
      // One event, then the end of the stream: the link dials again.
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`event: hello\ndata: ${JSON.stringify({ heartbeatMs: 1000 })}\n\n`);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const lc = new LinkCertificate(ca, 'dc1');
  let now = Date.now();
  const link = new PeerLink({
    peering: { peer: 'dc2', addresses: [`https://127.0.0.1:${(server.address() as AddressInfo).port}`], ca: ca.bundle.roots.join('\n'), secret: 'x'.repeat(43), createdAt: '' },
    self: 'dc1',
    log: () => {},
    onEvent: () => {},
    clientCertificate: () => lc.get(now),
    backoff: { baseMs: 10, maxMs: 50 },
  });
  try {
    await waitUntil(() => seen.length >= 1, 20_000).catch((err: unknown) => assert.fail(`${String(err)}: ${link.lastError}`));
    const before = (await lc.get(now)).cert;
    now += 2 * 3600_000;
    const renewed = (await lc.get(now)).cert;
    assert.notEqual(renewed, before);
    const renewedPrint = leaf(renewed).fingerprint256;
    await waitUntil(() => seen.includes(renewedPrint), 20_000).catch((err: unknown) => assert.fail(`${String(err)}: ${seen.length} connections, ${link.lastError}`));
    assert.equal(await lc.get(now), await lc.get(now), 'renewed once, not on every attempt');
    assert.equal(seen[0], leaf(before).fingerprint256, 'the first connection had the first certificate');
  } finally {
    await link.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
