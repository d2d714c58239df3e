/**
 * Issue 13, defect 5, the workload side: labels the control plane would refuse
 * (Kubernetes' rules, at most 64) fail createMesh(), HYPHAE_LABELS and
 * wrapServer() at once with HYPHAE_ERR_INVALID_OPTIONS naming the problem,
 * instead of a registration refused later; nothing reaches the control plane.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createMesh, ErrorCode, isMeshError, type Mesh, type MeshOptions } from '../../src/index.js';
import { optionsFromEnv } from '../../src/mesh/env.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

const many = (n: number, prefix = 'k') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, 'v']));

function invalidOptions(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isMeshError(err, ErrorCode.INVALID_OPTIONS), String(err));
    assert.match(err.message, pattern);
    return true;
  };
}

/** createMesh must refuse; a mesh it makes anyway is closed at once (so that the failure is reported, not a hang). */
async function refusedAtStart(options: MeshOptions, pattern: RegExp): Promise<void> {
  let made: Mesh | undefined;
  try {
    made = await createMesh(options);
  } catch (err) {
    invalidOptions(pattern)(err);
    return;
  }
  await made.close();
  assert.fail(`createMesh accepted labels ${JSON.stringify(options.labels).slice(0, 200)}`);
}

describe('labels on the workload side', () => {
  let cp: RunningControlPlane;
  before(async () => {
    cp = await startControlPlane();
  });
  after(() => cp?.stop());

  it('createMesh refuses 65 labels, a bad prefix and a 64-character name, listing each', async () => {
    const base = await cp.meshOptions('api');
    await refusedAtStart({ ...base, labels: many(65) }, /labels: 65 labels; at most 64/);
    await refusedAtStart(
      { ...base, labels: { 'Team.Example/x': 'a', ['n'.repeat(64)]: 'b', 'a/b/c': 'c' } },
      /labels\.Team\.Example\/x: label key prefix .* lower-case DNS subdomain.*is 64 characters; at most 63.*has 2 "\/"/,
    );
  });

  it('HYPHAE_LABELS is checked by the same rules, and the error names the variable', async () => {
    assert.throws(
      () => optionsFromEnv({ HYPHAE_CONTROL_PLANE: cp.url, HYPHAE_LABELS: 'zone=a,Bad.Prefix/x=1' }),
      invalidOptions(/^HYPHAE_LABELS holds labels the control plane would refuse: Bad\.Prefix\/x: label key prefix/),
    );
    assert.deepEqual(optionsFromEnv({ HYPHAE_CONTROL_PLANE: cp.url, HYPHAE_LABELS: 'zone=a,app.kubernetes.io/version=1.2' }).labels, { zone: 'a', 'app.kubernetes.io/version': '1.2' });
  });

  describe('wrapServer', () => {
    let mesh: Mesh;
    before(async () => {
      mesh = await createMesh({ ...(await cp.meshOptions('api')), labels: many(40, 'mesh') });
    });
    after(() => mesh?.close());

    it("refuses when the mesh's and the server's labels together pass 64, before anything registers", async () => {
      const server = http.createServer((_req, res) => res.end('ok'));
      assert.throws(() => mesh.wrapServer(server, { labels: many(30, 'server') }), invalidOptions(/wrapServer labels.*70 labels; at most 64/));
      assert.throws(() => mesh.wrapServer(server, { labels: { 'x/y/z': '1' } }), invalidOptions(/label key "x\/y\/z" has 2 "\/"/));
      const listed = await call<{ instances: unknown[] }>(cp.url, 'GET', '/v1/instances?service=api');
      assert.deepEqual(listed.body.instances, []);
      assert.ok(!cp.child.lines.some((l) => / register default\/api /.test(l)), 'the control plane saw no registration');
    });
  });
});
