/**
 * The server of the mTLS benchmark: the same fixed answer as echo-server.ts,
 * but a mesh service (`bench`) behind wrapServer's mTLS front (STRICT), in its
 * own process. Configured by HYPHAE_* variables; prints `listening PORT`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMesh, meshOptionsFromEnv } from '../../src/index.js';

const body = Buffer.from('{"ok":true,"service":"bench"}');
const mesh = await createMesh({ ...meshOptionsFromEnv(), server: { drainDelayMs: 0, gracePeriodMs: 1_000 } });
const server = mesh.wrapServer(
  http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  }),
);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1');
await mesh.registered(server);
console.log(`listening ${(server.address() as AddressInfo).port}`);
process.on('SIGTERM', () => process.exit(0));
