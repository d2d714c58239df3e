/**
 * What a meshed workload loads: with mTLS on (key, CSR, certificate, a
 * renewal) it never loads node-forge — the CSR is built with Node's crypto
 * (src/tls/csr.ts) — nor anything of the control plane or the CLI. A real
 * process against a real control plane, its modules listed by module hooks.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { buildDir, startNode, type Child } from '../helpers/process.js';
import { startApi, type RunningService } from '../helpers/services.js';

let cp: RunningControlPlane;
let probe: Child | undefined;
let api: RunningService;
let dir: string;

before(async () => {
  cp = await startControlPlane();
  dir = await makeTempDir('hyphae-modules-');
  api = await startApi(cp);
});

after(async () => {
  await probe?.kill();
  await api?.child.kill();
  await cp?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('an mTLS workload that serves, calls, obtains and renews its certificate without node-forge or control-plane code', async () => {
  probe = startNode(path.join(buildDir, 'test/helpers/modules-probe.js'), [path.join(dir, 'modules.txt'), 'api'], await cp.env('probe'));
  const m = await probe.waitFor(/^modules (\{.*\})$/, 60_000);
  const report = JSON.parse(m[1]!) as { status: number; path: string; peer: string; rotations: number; files: string[] };
  assert.equal(report.status, 200);
  assert.equal(report.path, '/probe');
  assert.equal(report.peer, 'spiffe://hyphae.local/ns/default/sa/probe', 'it called api over mTLS, with its own certificate');
  assert.equal(report.rotations, 1, 'and renewed its certificate once');
  const own = report.files.filter((f) => f.startsWith(path.join(buildDir, 'src') + path.sep));
  // The list is not empty by construction: the mesh's own ES modules and undici (CommonJS) are in it.
  assert.ok(
    own.some((f) => f.endsWith(`${path.sep}tls${path.sep}csr.js`)),
    'the hooks saw the ES modules, csr.js among them',
  );
  assert.ok(
    report.files.some((f) => f.includes(`${path.sep}node_modules${path.sep}undici${path.sep}`)),
    'require.cache lists CommonJS packages',
  );
  const forge = report.files.filter((f) => f.includes(`${path.sep}node_modules${path.sep}node-forge${path.sep}`));
  assert.deepEqual(forge, [], 'node-forge is not loaded');
  const serverSide = own.filter((f) => /[\\/]src[\\/](control-plane|cli)[\\/]/.test(f));
  assert.deepEqual(serverSide, [], 'nothing of the control plane or the CLI is loaded');
});
