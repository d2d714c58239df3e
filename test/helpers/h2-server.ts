/** Wrapped HTTP/2 servers for the server tests (issue 18): a CA, workload certificates, clients. */
import { generateKeyPairSync } from 'node:crypto';
import { rm } from 'node:fs/promises';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../src/core/logger.js';
import { FileCaStateStore } from '../../src/control-plane/ca/ca-state.js';
import { CertificateAuthority } from '../../src/control-plane/ca/certificate-authority.js';
import { wrapServer, type WrappableServer, type WrapServerDeps, type WrapServerOptions } from '../../src/server/wrap-server.js';
import { makeTempDir } from './control-plane.js';
import type { Creds } from './inbound-tls.js';

export interface TestCa {
  ca: CertificateAuthority;
  roots: string[];
  issue(service: string): Creds;
  close(): Promise<void>;
}

export async function testCa(): Promise<TestCa> {
  const dir = await makeTempDir('hyphae-h2-');
  const ca = await CertificateAuthority.open({ store: new FileCaStateStore(dir), trustDomain: 'td', certTtlMs: 3_600_000, log: () => {} });
  return {
    ca,
    roots: [...ca.bundle.roots],
    issue(service) {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const s = ca.signWorkload(publicKey.export({ type: 'spki', format: 'pem' }) as string, 'default', service);
      return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: s.certificate };
    },
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Wrap and listen on 127.0.0.1:0; returns the port. */
export async function listenWrapped<S extends WrappableServer>(server: S, deps: Partial<WrapServerDeps>, options: WrapServerOptions = {}): Promise<number> {
  wrapServer(server, { registrar: async () => undefined, logger: silentLogger, defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 2_000 }, ...deps }, { register: false, ...options });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

export interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a session; a stream reset or a session error rejects. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': body === undefined ? 'GET' : 'POST', ...headers }, { endStream: body === undefined });
    let replyHeaders: IncomingHttpHeaders = {};
    let text = '';
    stream.setEncoding('utf8');
    stream.on('response', (h) => (replyHeaders = h));
    stream.on('data', (d: string) => (text += d));
    stream.on('end', () => {
      if (replyHeaders[':status'] === undefined) reject(new Error(`stream ended without a response (rst ${stream.rstCode})`));
      else resolve({ status: Number(replyHeaders[':status']), headers: replyHeaders, body: text });
    });
    stream.on('error', reject);
    stream.on('close', () => {
      if (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && replyHeaders[':status'] === undefined) {
        reject(Object.assign(new Error(`stream reset (${stream.rstCode})`), { rstCode: stream.rstCode }));
      }
    });
    if (body !== undefined) stream.end(body);
  });
}

/** A session to a mesh TLS server with `creds` as client certificate (none: no certificate). */
export function tlsSession(port: number, roots: string[], creds?: Creds, settings?: http2.Settings): ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: roots, ...creds, checkServerIdentity: () => undefined, ...(settings ? { settings } : {}) });
  session.on('error', () => {});
  return session;
}

/** Resolves when the session is closed (for whatever reason). */
export function sessionClosed(session: ClientHttp2Session): Promise<void> {
  return session.closed || session.destroyed ? Promise.resolve() : new Promise((resolve) => session.once('close', () => resolve()));
}
