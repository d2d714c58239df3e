/**
 * The server of the per-process cost bench (bench/sidecar.ts): one process,
 * one request handler (the small fixed answer of echo-server.ts), four
 * listeners, so that every client row calls the same server:
 *
 *   plain     node:http, for raw undici and behind the plain nginx pair (and the mTLS pair:
 *             the server-side sidecar ends TLS and calls the workload in clear, as in a pod)
 *   tls       node:https asking for and verifying a client certificate (CERTS, made by
 *             openssl), for raw undici over TLS
 *   mesh      wrapServer of a mesh on the plain control plane (PLAIN_CP), registered as `bench`
 *   meshMtls  wrapServer of a mesh on the secure control plane (MTLS_CP, MTLS_TOKEN,
 *             MTLS_CA_FILE): STRICT mTLS, registered as `bench`
 *
 * Both meshes as shipped (telemetry on, stats reported). A fifth listener, `counts`, answers
 * with the connections each listener has accepted so far (JSON), so that the bench can show
 * that every hop keeps its connections alive. Prints `listening <ports as JSON>` once both
 * wrapped servers are registered.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createMesh } from '../../src/index.js';
import type { CertFiles } from './openssl-certs.js';

const body = Buffer.from('{"ok":true,"service":"bench"}');
const headers = { 'content-type': 'application/json', 'content-length': body.length };
const handler: http.RequestListener = (_req, res) => {
  res.writeHead(200, headers);
  res.end(body);
};

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const certs = JSON.parse(env('CERTS')) as CertFiles;
const cacheDir = env('CACHE_DIR');
// No drain delay: the bench stops this process when it is done, nobody needs to hear of it.
const server = { drainDelayMs: 0, gracePeriodMs: 1_000 };

const plainMesh = await createMesh({ controlPlane: env('PLAIN_CP'), service: 'bench', cacheDir, server });
const mtlsMesh = await createMesh({ controlPlane: env('MTLS_CP'), service: 'bench', token: env('MTLS_TOKEN'), caFile: env('MTLS_CA_FILE'), cacheDir, server });

const listeners: Record<string, http.Server> = {
  plain: http.createServer(handler),
  tls: https.createServer(
    {
      key: readFileSync(certs.serverKey),
      cert: readFileSync(certs.serverCert),
      ca: readFileSync(certs.caCert),
      requestCert: true,
      rejectUnauthorized: true,
    },
    handler,
  ),
  mesh: plainMesh.wrapServer(http.createServer(handler)),
  meshMtls: mtlsMesh.wrapServer(http.createServer(handler)),
};
const accepted: Record<string, number> = {};
listeners.counts = http.createServer((_req, res) => res.end(JSON.stringify(accepted)));
const ports: Record<string, number> = {};
for (const [name, s] of Object.entries(listeners)) {
  accepted[name] = 0;
  s.on('connection', () => accepted[name]!++);
  s.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  ports[name] = (s.address() as AddressInfo).port;
}
await plainMesh.registered(listeners.mesh!);
await mtlsMesh.registered(listeners.meshMtls!);
console.log(`listening ${JSON.stringify(ports)}`);
process.on('SIGTERM', () => process.exit(0));
