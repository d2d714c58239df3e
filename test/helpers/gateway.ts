/**
 * What the gateway tests share: mesh services built with the library that
 * echo what they received (and who called them, getPeer), resources applied
 * through the control plane's API, certificates for listener hostnames
 * (openssl), a running gateway (startGateway, in process), and real curl.
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createMesh, getPeer, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { startGateway, type RunningGateway } from '../../src/gateway/start-gateway.js';
import { call, type RunningControlPlane } from './control-plane.js';
import { run } from './pki.js';

export interface Echo {
  service: string;
  instance: string;
  url: string;
  method: string;
  headers: Record<string, string | string[] | undefined>;
  /** The headers as they came, lines of one name apart. */
  rawHeaders: string[];
  peer: string | undefined;
}

export interface Backend {
  mesh: Mesh;
  server: http.Server;
  port: number;
  hits: number;
  close(): Promise<void>;
}

/** Answers a request itself (true) instead of the echo: a test's slow or held responses. */
export type BackendHook = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/** A mesh service `service` (its own mesh, mTLS per the control plane) answering with an Echo, unless `hook` answers. */
export async function startBackend(cp: RunningControlPlane, service: string, instance = service, drainDelayMs = 0, hook?: BackendHook): Promise<Backend> {
  const mesh = await createMesh({ ...(await cp.meshOptions(service)), logger: silentLogger, server: { drainDelayMs } });
  const b = { mesh, port: 0, hits: 0 } as Backend;
  b.server = mesh.wrapServer(
    http.createServer((req, res) => {
      b.hits++;
      if (hook?.(req, res)) return;
      const echo: Echo = { service, instance, url: req.url!, method: req.method!, headers: req.headers, rawHeaders: req.rawHeaders, peer: getPeer(req)?.id };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(echo));
    }),
  );
  await new Promise<void>((resolve) => b.server.listen(0, '127.0.0.1', resolve));
  b.port = (b.server.address() as AddressInfo).port;
  await mesh.registered(b.server);
  b.close = () => mesh.close();
  return b;
}

/** Apply resources (all or nothing) with the admin token; throws with the control plane's answer otherwise. */
export async function apply(cp: RunningControlPlane, ...resources: object[]): Promise<void> {
  const r = await call(cp.url, 'PUT', '/v1/resources', { items: resources });
  if (r.status !== 200) throw new Error(`apply failed: ${r.status} ${r.text}`);
}

export function meta(name: string): { name: string; namespace: string } {
  return { name, namespace: 'default' };
}

/** A self-signed certificate for `hostname` (its SAN), in `dir`: { cert, key } file paths. */
export async function hostCertificate(dir: string, hostname: string): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${hostname}.crt`);
  const key = path.join(dir, `${hostname}.key`);
  const r = await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    `/CN=${hostname}`,
    '-addext',
    `subjectAltName=DNS:${hostname}`,
  ]);
  if (r.code !== 0) throw new Error(`openssl: ${r.stderr}`);
  return { cert, key };
}

export interface CurlResult {
  status: number;
  body: string;
  headers: string;
}

/** Real curl; `-D -` puts the header block before the body, `-w` the status after it. A stall is bounded by --max-time. */
export function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '20', '-H', 'Expect:', '-D', '-', '-w', '\n%{http_code}', ...args], { maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl ${args.join(' ').slice(0, 200)}: ${stderr || err.message}`));
      const cut = stdout.lastIndexOf('\n');
      let rest = stdout.slice(0, cut);
      let headers = '';
      while (rest.startsWith('HTTP/')) {
        const end = rest.indexOf('\r\n\r\n');
        headers = rest.slice(0, end);
        rest = rest.slice(end + 4);
      }
      resolve({ status: Number(stdout.slice(cut + 1)), body: rest, headers });
    });
  });
}

/** The gateway `name` in process, every listener on a free port, admin on a free port. */
export async function startTestGateway(
  cp: RunningControlPlane,
  name: string,
  ports: readonly number[],
  extra: { drainDelayMs?: number; gracePeriodMs?: number; accessLog?: (line: string) => void } = {},
): Promise<RunningGateway> {
  return startGateway({
    mesh: { ...(await cp.meshOptions(name)), ...(extra.accessLog ? { telemetry: { accessLog: extra.accessLog } } : {}) },
    name,
    host: '127.0.0.1',
    ports: Object.fromEntries(ports.map((p) => [p, 0])),
    admin: { host: '127.0.0.1', port: 0 },
    drainDelayMs: extra.drainDelayMs ?? 0,
    gracePeriodMs: extra.gracePeriodMs ?? 5_000,
    certificateCheckMs: 200,
    logger: silentLogger,
  });
}

/** The port a gateway listener (by its Gateway port) is bound to. */
export function boundPort(gw: RunningGateway, gatewayPort: number): number {
  const a = gw.addresses.get(gatewayPort);
  if (!a) throw new Error(`the gateway has no listener for port ${gatewayPort}`);
  return a.port;
}
