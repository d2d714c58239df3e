/**
 * A meshed workload that says which modules it loaded (test/tls/workload-modules.test.ts):
 * it registers module hooks first, so that every ES module the loader loads is
 * appended to a file (an ES module leaves no trace in require.cache), then
 * imports hyphae, serves (wrapServer; mTLS when HYPHAE_CONTROL_PLANE is
 * https://), calls the service named on its command line, renews its
 * certificate once, and prints `modules {json}`: every file loaded, ES and
 * CommonJS.
 * Usage: node modules-probe.js <list file> <service to call>
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { registerModuleList } from './module-list.js';

const [listFile, target] = process.argv.slice(2) as [string, string];
registerModuleList(listFile);

const { createMesh, meshOptionsFromEnv } = (await import('../../src/index.js')) as typeof import('../../src/index.js');
const mesh = await createMesh({ ...meshOptionsFromEnv(), server: { drainDelayMs: 0, gracePeriodMs: 1_000 } });
const server = mesh.wrapServer(http.createServer((_req, res) => res.end('probe')));
server.listen(0, '127.0.0.1');
await mesh.registered(server);
const res = await mesh.request(`http://${target}/probe`);
const body = (await res.body.json()) as { path?: string; peer?: string };
if (mesh.identity()) await mesh.renewCertificate();

const files = new Set(Object.keys(createRequire(import.meta.url).cache));
for (const url of readFileSync(listFile, 'utf8').split('\n')) if (url.startsWith('file:')) files.add(fileURLToPath(url));
console.log(`modules ${JSON.stringify({ status: res.statusCode, path: body.path, peer: body.peer, rotations: mesh.identity()?.rotations, files: [...files] })}`);
process.on('SIGTERM', () => void mesh.close().then(() => process.exit(0)));
