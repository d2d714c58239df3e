/**
 * A process that only calls never loads the server side of the mesh
 * (wrapServer, its stack, authorization, drain, the mTLS front): Mesh loads it
 * on the first wrapServer, synchronously (mesh/server-module.ts). A real child
 * process, its modules listed by module hooks and require.cache.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, it } from 'node:test';
import { makeTempDir } from '../helpers/control-plane.js';
import { buildDir, startNode, type Child } from '../helpers/process.js';

let probe: Child | undefined;
let dir: string | undefined;
after(async () => {
  await probe?.kill();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('a client-only process loads no server module until its first wrapServer, which loads it at once', async () => {
  dir = await makeTempDir('hyphae-client-only-');
  probe = startNode(path.join(buildDir, 'test/helpers/client-only-probe.js'), [path.join(dir, 'modules.txt')]);
  const m = await probe.waitFor(/^modules (\{.*\})$/, 60_000);
  const report = JSON.parse(m[1]!) as { status: number; body: string; afterCall: string[]; afterWrap: string[] };
  assert.equal(report.status, 200);
  assert.equal(report.body, 'plain');
  const src = path.join(buildDir, 'src') + path.sep;
  const ours = (files: string[]) => files.filter((f) => f.startsWith(src)).map((f) => f.slice(src.length));
  // Not empty by construction: the hooks saw the mesh's own modules.
  assert.ok(ours(report.afterCall).includes(path.join('mesh', 'mesh.js')), 'the hooks saw mesh/mesh.js');
  const wrap = path.join('server', 'wrap-server.js');
  assert.ok(!ours(report.afterCall).includes(wrap), 'wrap-server is not loaded by a call');
  assert.ok(ours(report.afterWrap).includes(wrap), 'wrapServer loaded it, synchronously');
  // What of src/server a client-only process loads: the helpers the public entry exports, and the path reading options validate with.
  const serverSide = ours(report.afterCall)
    .filter((f) => f.startsWith(`server${path.sep}`))
    .sort();
  assert.deepEqual(
    serverSide,
    ['server/authz/normalize-path.js', 'server/deadline-intake.js', 'server/peer.js'].map((f) => path.join(...f.split('/'))),
  );
});
