/**
 * TLS session resumption on a gateway's HTTPS port outlives the gateway's certificate checks. It did not:
 * every check (5 s by default) and every configuration snapshot gave the port's server a new default
 * context (setSecureContext) even when the files had not changed, and a new context has new session
 * ticket keys, so every client's session was lost and its next connection paid a full handshake. Real
 * sockets: tls.connect with and without SNI, a session from one connection offered on the next, a
 * snapshot forced by a Route change applied through the control plane.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import type { RunningGateway } from '../../src/gateway/start-gateway.js';
import { makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { apply, boundPort, hostCertificate, meta, startBackend, startTestGateway, type Backend } from '../helpers/gateway.js';

const API = 'hyphae.dev/v1';
const STALL_MS = 30_000;

/** The Route to web: /v1, and `probe` (a new one makes a new snapshot, and says when the gateway has it). */
function routeTo(probe: string): object {
  const rule = (value: string) => ({ matches: [{ path: { type: 'PathPrefix', value } }], backendRefs: [{ name: 'web' }] });
  return { apiVersion: API, kind: 'Route', metadata: meta('web'), spec: { parentRefs: [{ kind: 'Gateway', name: 'edge' }], rules: [rule('/v1'), rule(probe)] } };
}

/** One request on a new TLS connection offering `session`: whether the server resumed it, and the session to offer next. */
function exchange(port: number, servername: string | undefined, session: Buffer | undefined, path = '/v1/x'): Promise<{ resumed: boolean; session: Buffer | undefined; status: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}), ...(session ? { session } : {}) });
    let next: Buffer | undefined;
    let answer = '';
    socket.on('session', (s: Buffer) => (next = s));
    socket.once('secureConnect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: shop.example.com\r\nConnection: close\r\n\r\n`));
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (answer += d));
    socket.once('end', () => resolve({ resumed: socket.isSessionReused(), session: next ?? session, status: answer.slice(0, answer.indexOf('\r\n')) }));
    socket.once('error', reject);
  });
}

describe('hyphae gateway: TLS sessions survive certificate checks and snapshots', () => {
  let cp: RunningControlPlane;
  let web: Backend;
  let gw: RunningGateway;
  let port: number;

  before(async () => {
    cp = await startControlPlane();
    web = await startBackend(cp, 'web');
    const cert = await hostCertificate(await makeTempDir('hyphae-gw-resume-'), 'shop.example.com');
    await apply(
      cp,
      {
        apiVersion: API,
        kind: 'Gateway',
        metadata: meta('edge'),
        spec: { listeners: [{ name: 'shop', port: 8443, protocol: 'HTTPS', hostname: 'shop.example.com', tls: { certificateFile: cert.cert, keyFile: cert.key } }] },
      },
      routeTo('/probe-0'),
    );
    // Certificate checks every 200 ms (the helper's): several run during the test.
    gw = await startTestGateway(cp, 'edge', [8443]);
    await gw.ready;
    port = boundPort(gw, 8443);
  });

  after(async () => {
    await gw?.close();
    await web?.close();
    await cp?.stop();
  });

  for (const servername of [undefined, 'shop.example.com']) {
    it(`${servername ? 'with SNI' : 'without SNI (the default certificate)'}: a session is resumed after a snapshot re-applied the same certificate`, async () => {
      const first = await exchange(port, servername, undefined);
      assert.equal(first.status, 'HTTP/1.1 200 OK');
      assert.ok(first.session, 'the server handed out a session');
      const again = await exchange(port, servername, first.session);
      assert.equal(again.resumed, true, 'resumed while nothing changed');
      // A snapshot (a Route change): the gateway reconciles its listeners and their certificates. Applied
      // once the probe's path is served (on connections of their own, offering no session).
      const probe = `/probe-${servername ?? 'default'}`;
      await apply(cp, routeTo(probe));
      await waitUntil(async () => (await exchange(port, servername, undefined, probe)).status === 'HTTP/1.1 200 OK', STALL_MS, 'the Route change reaches the gateway');
      await gw.settled();
      const after = await exchange(port, servername, again.session);
      assert.equal(after.status, 'HTTP/1.1 200 OK');
      assert.equal(after.resumed, true, 'resumed after the snapshot: the same certificate is not a new context');
    });
  }
});
