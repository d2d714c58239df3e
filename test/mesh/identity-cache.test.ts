/**
 * The workload's key on disk (issue 13, defect 14), with real meshes against a
 * real control plane (child process, mTLS): on by default, the identity file
 * is 0600 in a 0700 directory; switched off (the option, or the variable the
 * default mesh reads), no identity file is written at any time — a watch on
 * the cache directory sees every file created there, temp files included —
 * and the one an earlier run kept is removed.
 */
import assert from 'node:assert/strict';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMesh } from '../../src/index.js';
import { cacheDirFor } from '../../src/discovery/cache-file.js';
import { optionsFromEnv } from '../../src/mesh/env.js';
import { makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/services.js';

/** Every name that appears in `dir` while it is watched (inotify: creations, renames, writes). */
function watchNames(dir: string): { names: Set<string>; close(): void } {
  const names = new Set<string>();
  const w: FSWatcher = watch(dir, (_event, name) => {
    if (name) names.add(name.toString());
  });
  return { names, close: () => w.close() };
}

const identityNames = (names: Iterable<string>) => [...names].filter((n) => n.startsWith('identity.'));

describe('the workload identity cache', () => {
  let cp: RunningControlPlane;
  const roots: string[] = [];
  const newRoot = async () => {
    const root = await makeTempDir('hyphae-identity-cache-');
    roots.push(root);
    return root;
  };

  before(async () => {
    cp = await startControlPlane();
  });
  after(async () => {
    await cp?.stop();
    await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
  });

  it('on by default: identity.<namespace>.<service>.json holds the key, mode 0600, in a directory brought to 0700', async () => {
    const root = await newRoot();
    const dir = cacheDirFor(root, [cp.url]);
    // A directory of ours left readable by others (made by hand, restored from a backup): mkdir's mode would not apply.
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o755);
    const seen = watchNames(dir);
    const file = path.join(dir, 'identity.default.id-on.json');
    try {
      const mesh = await createMesh({ ...(await cp.meshOptions('id-on')), cacheDir: root });
      try {
        await waitUntil(() => existsSync(file), 15_000, 20);
        const kept = JSON.parse(await readFile(file, 'utf8')) as { credentials: { key: string; certificate: string } };
        assert.match(kept.credentials.key, /-----BEGIN PRIVATE KEY-----/);
        assert.equal((await stat(file)).mode & 0o777, 0o600, 'identity file mode');
        assert.equal((await stat(dir)).mode & 0o777, 0o700, 'cache directory mode');
        await mesh.renewCertificate();
      } finally {
        await mesh.close();
      }
    } finally {
      seen.close();
    }
    // The watch does see identity files being written: its silence below means something.
    assert.ok(identityNames(seen.names).length > 0, `watch saw ${[...seen.names].join(', ')}`);
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'still 0600 after a renewal rewrote it');
  });

  it('cacheIdentity: false: the file an earlier run kept is removed at start, and none is written, not even on renewal', async () => {
    const root = await newRoot();
    const dir = cacheDirFor(root, [cp.url]);
    const options = await cp.meshOptions('id-off');
    const first = await createMesh({ ...options, cacheDir: root });
    await first.close();
    const file = path.join(dir, 'identity.default.id-off.json');
    assert.ok(existsSync(file), 'the first run (switch on) kept its key');

    const seen = watchNames(dir);
    try {
      const mesh = await createMesh({ ...options, cacheDir: root, cacheIdentity: false });
      try {
        assert.equal(existsSync(file), false, 'removed when the mesh started with the switch off');
        assert.ok(mesh.identity()?.spiffeId?.endsWith('/sa/id-off'), 'mTLS works without the file');
        await mesh.renewCertificate();
        // The cache directory is in use meanwhile: the trust bundle from the watch stream is written there.
        await waitUntil(() => existsSync(path.join(dir, 'trust-bundle.json')), 15_000, 20);
      } finally {
        await mesh.close();
      }
    } finally {
      seen.close();
    }
    const left = await readdir(dir);
    assert.deepEqual(identityNames(left), [], `left in the cache directory: ${left.join(', ')}`);
    // The removal itself is the only identity event; nothing was created after it.
    assert.deepEqual(identityNames(seen.names), ['identity.default.id-off.json']);
  });

  it('HYPHAE_CACHE_IDENTITY=off (the default mesh reads the environment): no identity file at any time', async () => {
    const root = await newRoot();
    const dir = cacheDirFor(root, [cp.url]);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const seen = watchNames(dir);
    try {
      const mesh = await createMesh(optionsFromEnv({ ...(await cp.env('id-env')), HYPHAE_CACHE_DIR: root, HYPHAE_CACHE_IDENTITY: 'off' }));
      try {
        assert.ok(mesh.identity()?.spiffeId?.endsWith('/sa/id-env'));
        await mesh.renewCertificate();
        await waitUntil(() => existsSync(path.join(dir, 'trust-bundle.json')), 15_000, 20);
      } finally {
        await mesh.close();
      }
    } finally {
      seen.close();
    }
    const left = await readdir(dir);
    assert.deepEqual(identityNames(left), []);
    assert.deepEqual(identityNames(seen.names), [], `names seen in ${dir}: ${[...seen.names].join(', ')}`);
    assert.ok(seen.names.has('trust-bundle.json'), `the watch saw the discovery cache being written (${[...seen.names].join(', ')})`);
  });
});
