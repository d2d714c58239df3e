/**
 * Plain `node:http2` (and HTTP/1.1-only TLS) servers holding a workload certificate of the mesh CA, as a
 * meshed server that speaks HTTP/2 would, registered with a real control plane under a service name: the
 * peers of the client's HTTP/2 tests (issue 18), built without wrapServer.
 */
import { readFile } from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { register, type RunningControlPlane } from './control-plane.js';
import type { Pki } from './pki.js';

export const TRUST_DOMAIN = 'spiffe://hyphae.local';

type Handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

export interface TestServer {
  port: number;
  /** TLS connections accepted (HTTP/2 sessions and HTTP/1.1 connections alike). */
  connections: number;
  /** `req.httpVersion` of every request, in order. */
  versions: string[];
  /** Open HTTP/2 sessions (empty for an HTTP/1.1-only server). */
  sessions: Set<http2.ServerHttp2Session>;
  close(): Promise<void>;
}

export interface MeshPeers {
  cp: RunningControlPlane;
  pki: Pki;
  ca: { cert: string; key: string };
}

let serial = 0;

/** Key and certificate (EC P-256, quick to make) for `identity` (a service name), signed by the mesh CA. */
export async function workloadCert(peers: MeshPeers, identity: string): Promise<{ key: Buffer; cert: Buffer }> {
  const name = `${identity}-${++serial}`;
  const { key, csr } = await peers.pki.keyAndCsr(name, identity, [], ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  const cert = await peers.pki.sign(csr, peers.ca, { san: [`URI:${TRUST_DOMAIN}/ns/default/sa/${identity}`], eku: 'clientAuth,serverAuth' }, `${name}.pem`);
  return { key: await readFile(key), cert: await readFile(cert) };
}

export interface ServeOptions {
  /** The service it registers as. */
  service: string;
  /** The identity its certificate carries; the service's by default (another one: an impostor). */
  identity?: string;
  /** 'h2': http2.createSecureServer({ allowHTTP1: true }); 'http1': https with ALPN http/1.1 only. */
  kind: 'h2' | 'http1';
  handler: Handler;
  /** Labels it registers with (the protocol hint, config/protocol-hint.ts). */
  labels?: Record<string, string>;
}

/** Start a server on 127.0.0.1 port 0 with a mesh workload certificate, and register it with the control plane. */
export async function serveRegistered(peers: MeshPeers, opts: ServeOptions): Promise<TestServer> {
  const { key, cert } = await workloadCert(peers, opts.identity ?? opts.service);
  const ca = await readFile(peers.ca.cert);
  const tls = { key, cert, ca, requestCert: true, rejectUnauthorized: true };
  const versions: string[] = [];
  const sessions = new Set<http2.ServerHttp2Session>();
  const handler: Handler = (req, res) => {
    versions.push(req.httpVersion);
    opts.handler(req, res);
  };
  const server =
    opts.kind === 'h2'
      ? http2.createSecureServer({ ...tls, allowHTTP1: true }, handler)
      : https.createServer({ ...tls, ALPNProtocols: ['http/1.1'] }, handler as unknown as Parameters<typeof https.createServer>[1]);
  const sockets = new Set<TLSSocket>();
  const out: TestServer = {
    port: 0,
    connections: 0,
    versions,
    sessions,
    close: async () => {
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('secureConnection', (s: TLSSocket) => {
    out.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  if (opts.kind === 'h2') {
    (server as http2.Http2SecureServer).on('session', (s: http2.ServerHttp2Session) => {
      sessions.add(s);
      s.on('close', () => sessions.delete(s));
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  out.port = (server.address() as AddressInfo).port;
  await register(peers.cp.url, { service: opts.service, address: '127.0.0.1', port: out.port, ...(opts.labels ? { labels: opts.labels } : {}) }, await peers.cp.joinToken(opts.service));
  return out;
}
