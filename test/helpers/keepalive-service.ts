/**
 * The keep-alive race server (test/helpers/keepalive-race.ts) as a mesh
 * service: built with the library (createMesh + wrapServer, mTLS from the
 * control plane in HYPHAE_*), registered as HYPHAE_SERVICE.
 * Usage: node keepalive-service.js <idleMs> <crossWindowMs>
 *
 * Prints `ready port=<port>`; on SIGUSR2 prints `stats {...}` (served,
 * crossedRst, crossedFin, idleClosed).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMesh, meshOptionsFromEnv } from '../../src/index.js';
import { keepAliveRace } from './keepalive-race.js';

const race = keepAliveRace(Number(process.argv[2] ?? 50), Number(process.argv[3] ?? 4));

const mesh = await createMesh(meshOptionsFromEnv());
const server = mesh.wrapServer(http.createServer((req, res) => void race.handle(req, res)));
// The race's own idle timer replaces Node's.
server.keepAliveTimeout = 0;
server.listen(0, '127.0.0.1', () => console.log(`ready port=${(server.address() as AddressInfo).port}`));
await mesh.registered(server);
console.log('registered');
process.on('SIGUSR2', () => console.log(`stats ${JSON.stringify(race.stats)}`));
process.on('SIGTERM', () => void mesh.close().then(() => process.exit(0)));
