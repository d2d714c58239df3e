/**
 * A process that only calls (test/mesh/server-module.test.ts): it lists the
 * modules it loaded after a call through the mesh, then after its first
 * wrapServer. Module hooks append every ES module imported to a file (as
 * modules-probe.ts does); require.cache lists what is required (the server
 * side is required: mesh/server-module.ts).
 * Usage: node client-only-probe.js <list file>; prints `modules {json}`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { registerModuleList } from './module-list.js';

const listFile = process.argv[2]!;
registerModuleList(listFile);

const { Mesh } = (await import('../../src/index.js')) as typeof import('../../src/index.js');
const { StaticResolver } = (await import('../../src/extend.js')) as typeof import('../../src/extend.js');
const plain = http.createServer((_req, res) => res.end('plain'));
await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
const { port } = plain.address() as AddressInfo;
const mesh = new Mesh({ resolver: new StaticResolver({ api: [{ address: '127.0.0.1', port }] }) });
const res = await mesh.request('http://api/');
const body = await res.body.text();

function loaded(): string[] {
  const files = new Set(Object.keys(createRequire(import.meta.url).cache));
  for (const url of readFileSync(listFile, 'utf8').split('\n')) if (url.startsWith('file:')) files.add(fileURLToPath(url));
  return [...files];
}
const afterCall = loaded();
mesh.wrapServer(http.createServer(), { register: false });
const afterWrap = loaded();
console.log(`modules ${JSON.stringify({ status: res.statusCode, body, afterCall, afterWrap })}`);
await mesh.close();
plain.close();
