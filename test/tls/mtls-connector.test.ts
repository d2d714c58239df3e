/**
 * The mTLS connector resumes TLS sessions, and a resumed connection proves no
 * less than a full handshake did: real TLS servers on 127.0.0.1:0 holding
 * workload certificates from a real CA (in this process), the connector as
 * the mesh's endpoint pools call it.
 *
 * What must hold: a second connection to a verified instance resumes (the
 * server still sees the caller's certificate); a session is never offered
 * to another identity, nor after the client's certificate changed; a server
 * that cannot take the ticket (another process at the address) goes through
 * a full handshake and is checked as always.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer, type Server, type TLSSocket } from 'node:tls';
import { Authority, createRootAuthority } from '../../src/control-plane/ca/authority.js';
import { parseCsr } from '../../src/control-plane/ca/csr.js';
import { issueWorkloadCertificate } from '../../src/control-plane/ca/issue.js';
import { ErrorCode, MeshError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import { CertificateProvider } from '../../src/tls/certificate-provider.js';
import { mtlsConnector } from '../../src/tls/mtls-connector.js';
import type { CertificateSigner, TrustBundle } from '../../src/tls/signer.js';
import { WorkloadTls } from '../../src/tls/workload-tls.js';

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

class Signer implements CertificateSigner {
  readonly bundle: TrustBundle;
  constructor(readonly authority: Authority) {
    this.bundle = { trustDomain: 'td', version: 1, roots: [authority.root] };
  }
  async sign(csr: string) {
    const p = parseCsr(csr);
    const issued = issueWorkloadCertificate(this.authority, p.publicKeyPem, p.uris[0]!, 3_600_000);
    return { certificate: issued.certificate, chain: this.authority.leafChain, trustBundle: this.bundle };
  }
}

interface Workload {
  provider: CertificateProvider;
  tls: WorkloadTls;
}

/** A TLS server as wrapServer's engine is made: the workload's material, a client certificate asked for. */
class Instance {
  readonly peers: { id: string | undefined; reused: boolean }[] = [];
  server!: Server;
  constructor(readonly workload: Workload) {}
  async listen(port = 0): Promise<number> {
    this.server = createTlsServer({ ...this.workload.tls.serverMaterial()!.options, requestCert: true, rejectUnauthorized: true }, (s: TLSSocket) => {
      const uri = s.getPeerX509Certificate()?.subjectAltName?.replace(/^URI:/, '');
      this.peers.push({ id: uri, reused: s.isSessionReused() });
      // An answer, as an HTTP server's: OpenSSL sends its tickets with the first write (none before a bare close).
      s.end('ok');
    });
    this.server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** One connection through the connector: the socket once secure (then closed), or the connector's error. */
function connect(tls: WorkloadTls, service: string, port: number): Promise<{ reused: boolean } | Error> {
  const connector = mtlsConnector({ tls, namespace: 'default', service, mode: () => 'STRICT' });
  return new Promise((resolve) => {
    connector({ hostname: '127.0.0.1', host: `127.0.0.1:${port}`, port: String(port), protocol: 'https:', servername: '' } as never, (err, socket) => {
      if (err) return resolve(err);
      const s = socket as TLSSocket;
      const reused = s.isSessionReused();
      // The server ends its side at once; the ticket may come with that: wait for the end before closing.
      s.on('data', () => {});
      s.once('end', () => {
        s.destroy();
        resolve({ reused });
      });
    });
  });
}

describe('mtlsConnector: TLS session resumption', () => {
  let signer: Signer;
  const workloads: Workload[] = [];
  const instances: Instance[] = [];
  const workload = async (service: string): Promise<Workload> => {
    const provider = new CertificateProvider({ signer, service, namespace: 'default', trustBundle: signer.bundle, logger: quiet });
    await provider.start();
    const w = { provider, tls: new WorkloadTls(provider) };
    workloads.push(w);
    return w;
  };
  const instance = async (w: Workload, port = 0) => {
    const i = new Instance(w);
    instances.push(i);
    return { instance: i, port: await i.listen(port) };
  };

  before(async () => {
    signer = new Signer(new Authority(await createRootAuthority('td')));
  });
  after(async () => {
    await Promise.all(instances.map((i) => i.close().catch(() => {})));
    for (const w of workloads) {
      w.tls.close();
      await w.provider.close();
    }
  });

  it('a second connection to a verified instance resumes; the server still sees the caller', async () => {
    const client = await workload('client');
    const { instance: api, port } = await instance(await workload('api'));
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await connect(client.tls, 'api', port));
    assert.deepEqual(results, [{ reused: false }, { reused: true }, { reused: true }, { reused: true }]);
    assert.equal(client.tls.clientHandshakes, 4);
    assert.equal(client.tls.clientResumptions, 3);
    assert.deepEqual(
      api.peers.map((p) => p.id),
      Array(4).fill('spiffe://td/ns/default/sa/client'),
    );
    assert.deepEqual(
      api.peers.map((p) => p.reused),
      [false, true, true, true],
    );
  });

  it('a session verified for one identity is never offered to another at the same address', async () => {
    const client = await workload('client');
    const { port } = await instance(await workload('api'));
    assert.deepEqual(await connect(client.tls, 'api', port), { reused: false });
    // Calling `billing` at api's address: a resumed session would skip the check; a full handshake refuses.
    const wrong = await connect(client.tls, 'billing', port);
    assert.ok(wrong instanceof MeshError, String(wrong));
    assert.equal(wrong.code, ErrorCode.PEER_IDENTITY_MISMATCH);
    assert.equal(client.tls.clientResumptions, 0);
  });

  it('another process at the address cannot take the ticket: a full handshake, checked, refused', async () => {
    const client = await workload('client');
    const { instance: api, port } = await instance(await workload('api'));
    assert.deepEqual(await connect(client.tls, 'api', port), { reused: false });
    assert.deepEqual(await connect(client.tls, 'api', port), { reused: true });
    await api.close();
    // Another workload at that very port: its server has its own ticket keys.
    const { instance: evil } = await instance(await workload('evil'), port);
    const wrong = await connect(client.tls, 'api', port);
    assert.ok(wrong instanceof MeshError, String(wrong));
    assert.equal(wrong.code, ErrorCode.PEER_IDENTITY_MISMATCH);
    assert.deepEqual(evil.peers, [], 'the handshake failed before the server had a connection');
    assert.equal(client.tls.clientResumptions, 1);
  });

  it("after the client's certificate changes, the next connection is a full handshake with the new one", async () => {
    const client = await workload('client');
    const { instance: api, port } = await instance(await workload('api'));
    assert.deepEqual(await connect(client.tls, 'api', port), { reused: false });
    assert.deepEqual(await connect(client.tls, 'api', port), { reused: true });
    await client.provider.renewNow();
    assert.deepEqual(await connect(client.tls, 'api', port), { reused: false });
    assert.deepEqual(await connect(client.tls, 'api', port), { reused: true });
    assert.deepEqual(
      api.peers.map((p) => p.reused),
      [false, true, false, true],
    );
  });

  it("after the server's certificate changes, its old tickets are refused: a full handshake", async () => {
    const client = await workload('client');
    const server = await workload('api');
    const { instance: api, port } = await instance(server);
    assert.deepEqual(await connect(client.tls, 'api', port), { reused: false });
    await server.provider.renewNow();
    // As the mesh's connection gate does on a change (src/server/connection-gate.ts).
    api.server.setSecureContext({ ...server.tls.serverMaterial()!.options });
    assert.deepEqual(await connect(client.tls, 'api', port), { reused: false });
    assert.deepEqual(await connect(client.tls, 'api', port), { reused: true });
  });
});
