/**
 * The mTLS front of wrapServer on real sockets, with the TLS material and the
 * mode in the test's hands: sniffing TLS from plaintext, STRICT / PERMISSIVE /
 * DISABLE and live switches, hot-swapped certificates, and listen/address/close
 * left to the user's server.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { silentLogger } from '../../src/core/logger.js';
import { FileCaStateStore } from '../../src/control-plane/ca/ca-state.js';
import { CertificateAuthority } from '../../src/control-plane/ca/certificate-authority.js';
import { frontStats } from '../../src/server/mtls-front.js';
import { getPeer } from '../../src/server/peer.js';
import { wrapServer } from '../../src/server/wrap-server.js';
import { makeTempDir } from '../helpers/control-plane.js';
import { TestInbound, type Creds } from '../helpers/inbound-tls.js';

describe('mTLS front', () => {
  let dir: string;
  let ca: CertificateAuthority;
  const issue = (service: string): Creds => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const s = ca.signWorkload(publicKey.export({ type: 'spki', format: 'pem' }) as string, 'default', service);
    return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: s.certificate };
  };
  let inbound: TestInbound;
  let server: http.Server;
  let port: number;
  const seen: { peer: string | undefined; encrypted: boolean }[] = [];
  let client: Creds;
  const agents: Agent[] = [];
  const tlsAgent = (c: Creds = client) => {
    // The server's identity is not what this test is about (the client connector has its own tests).
    const a = new Agent({ connect: { ...c, ca: ca.bundle.roots as string[], checkServerIdentity: () => undefined } });
    agents.push(a);
    return a;
  };

  before(async () => {
    dir = await makeTempDir('hyphae-front-');
    ca = await CertificateAuthority.open({ store: new FileCaStateStore(dir), trustDomain: 'td', certTtlMs: 3_600_000, log: () => {} });
    inbound = new TestInbound(issue('api'), [...ca.bundle.roots]);
    client = issue('web');
    server = wrapServer(
      http.createServer((req, res) => {
        seen.push({ peer: getPeer(req)?.id, encrypted: Boolean((req.socket as tls.TLSSocket).encrypted) });
        res.end('ok');
      }),
      { registrar: async () => undefined, logger: silentLogger, defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 1_000 }, tls: async () => inbound },
      { register: false },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  it('STRICT: mTLS reaches the handler with the peer identity; plaintext is closed before HTTP', async () => {
    inbound.set('STRICT');
    const before = seen.length;
    const res = await request(`https://127.0.0.1:${port}/`, { dispatcher: tlsAgent() });
    assert.equal(await res.body.text(), 'ok');
    assert.deepEqual(seen.at(-1), { peer: 'spiffe://td/ns/default/sa/web', encrypted: true });
    await assert.rejects(request(`http://127.0.0.1:${port}/`), /other side closed|ECONNRESET|socket/i);
    assert.equal(seen.length, before + 1, 'the plaintext request never reached the handler');
  });

  it('PERMISSIVE and DISABLE take both on one port; a switch to STRICT closes plaintext keep-alive connections', async () => {
    inbound.set('PERMISSIVE');
    const plain = new Agent({ keepAliveTimeout: 30_000 });
    agents.push(plain);
    const p1 = await request(`http://127.0.0.1:${port}/`, { dispatcher: plain });
    assert.equal(await p1.body.text(), 'ok');
    assert.deepEqual(seen.at(-1), { peer: undefined, encrypted: false }, 'no identity over plaintext');
    const p2 = await request(`http://127.0.0.1:${port}/again`, { dispatcher: plain });
    assert.equal(await p2.body.text(), 'ok', 'a second request on the same plaintext connection');
    const t = await request(`https://127.0.0.1:${port}/`, { dispatcher: tlsAgent() });
    assert.equal(await t.body.text(), 'ok');
    inbound.set('DISABLE');
    assert.equal(await (await request(`http://127.0.0.1:${port}/`, { dispatcher: plain })).body.text(), 'ok');
    assert.equal(await (await request(`https://127.0.0.1:${port}/`, { dispatcher: tlsAgent() })).body.text(), 'ok', 'DISABLE still accepts mTLS');

    const before = seen.length;
    inbound.set('STRICT');
    await assert.rejects(request(`http://127.0.0.1:${port}/after`, { dispatcher: plain }));
    assert.equal(seen.length, before, 'no plaintext request reached the handler after the switch');
  });

  it('refuses a client certificate from another CA before HTTP', async () => {
    inbound.set('STRICT');
    const otherDir = await makeTempDir('hyphae-front-other-');
    try {
      const other = await CertificateAuthority.open({ store: new FileCaStateStore(otherDir), trustDomain: 'td', certTtlMs: 60_000, log: () => {} });
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const foreign = {
        key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        cert: other.signWorkload(publicKey.export({ type: 'spki', format: 'pem' }) as string, 'default', 'web').certificate,
      };
      const before = seen.length;
      const refusedBefore = frontStats(server)!.refused;
      await assert.rejects(request(`https://127.0.0.1:${port}/`, { dispatcher: tlsAgent(foreign) }));
      assert.equal(seen.length, before);
      assert.equal(frontStats(server)!.refused, refusedBefore + 1);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('hot-swaps its certificate: open connections carry on, new ones get the new certificate', async () => {
    inbound.set('STRICT');
    const kept = tlsAgent();
    assert.equal(await (await request(`https://127.0.0.1:${port}/`, { dispatcher: kept })).body.text(), 'ok');
    const serial = () =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ port, host: '127.0.0.1', ...client, ca: ca.bundle.roots as string[], checkServerIdentity: () => undefined }, () => {
          resolve(s.getPeerX509Certificate()!.serialNumber);
          s.destroy();
        });
        s.on('error', reject);
      });
    const oldSerial = await serial();
    inbound.creds = issue('api');
    inbound.version++;
    inbound.changes.emit();
    const newSerial = await serial();
    assert.notEqual(newSerial, oldSerial, 'a new connection sees the new certificate');
    assert.equal(await (await request(`https://127.0.0.1:${port}/`, { dispatcher: kept })).body.text(), 'ok', 'the open connection still works');
  });

  it('leaves listen(), address() and close() to the server; close-all also ends connections not yet given to HTTP', async () => {
    assert.equal((server.address() as AddressInfo).port, port);
    const idle = net.connect(port, '127.0.0.1');
    await new Promise((r) => idle.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
    const closed = new Promise((r) => idle.once('close', r));
    server.closeAllConnections();
    await closed;
  });
});
