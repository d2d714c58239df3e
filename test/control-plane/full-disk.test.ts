/**
 * A full disk under the data directory (a real one: a 512 KiB tmpfs this test
 * mounts as root, and fills): writes answer 507 HYPHAE_ERR_STORE_FULL naming
 * the file, nothing half-written, reads keep working, and the control plane
 * restarts on it, since a start rewrites nothing that has not changed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { openSync, closeSync, writeSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { ApiErrorBody } from '../../src/config/wire.js';
import { call, makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

const exec = promisify(execFile);

let mountPoint: string | undefined;
let mounted = false;
let skip: string | undefined;

before(async () => {
  mountPoint = await makeTempDir('hyphae-full-');
  try {
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'tmpfs', mountPoint]);
    mounted = true;
  } catch (err) {
    skip = `mount -t tmpfs is refused here (${String((err as { stderr?: string }).stderr ?? (err as Error).message).trim()})`;
  }
});

after(async () => {
  if (mounted) await exec('umount', [mountPoint!]).catch(() => exec('umount', ['-l', mountPoint!]));
  if (mountPoint) await rm(mountPoint, { recursive: true, force: true });
});

/** Write until the file system says ENOSPC: big blocks, then single bytes for what is left. Bounded by the 512 KiB. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (const size of [64 * 1024, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0x61);
      for (let i = 0; i < (1024 * 1024) / size; i++) {
        try {
          written += writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe('a full disk under the data directory', () => {
  let cp: RunningControlPlane | undefined;
  after(async () => {
    await cp?.stop('SIGKILL');
  });

  it('answers writes 507 HYPHAE_ERR_STORE_FULL naming the file, keeps serving reads, and restarts on the full disk', { timeout: 180_000 }, async (t) => {
    if (skip) {
      t.skip(skip);
      return;
    }
    const dataDir = path.join(mountPoint!, 'data');
    cp = await startControlPlane({ dataDir });
    const service = { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'kept' } };
    assert.equal((await call(cp.url, 'PUT', '/v1/resources', service)).status, 200);
    const stored = await readFile(path.join(dataDir, 'resources.json'), 'utf8');

    const filled = fill(path.join(mountPoint!, 'filler'));
    assert.ok(filled > 0, 'something was written before the disk was full');

    const write = await call<ApiErrorBody>(cp.url, 'PUT', '/v1/resources', { ...service, metadata: { name: 'lost' } });
    assert.equal(write.status, 507, write.text);
    assert.equal(write.body.error.code, 'HYPHAE_ERR_STORE_FULL');
    assert.match(write.body.error.message, new RegExp(`cannot write ${path.join(dataDir, 'resources.json')}: no space left on its file system \\(ENOSPC\\)`));
    const token = await call<ApiErrorBody>(cp.url, 'POST', '/v1/tokens', { service: 'api' });
    assert.equal(token.status, 507, token.text);
    assert.match(token.body.error.message, /cannot write .*tokens\.json: no space left/);
    assert.ok(
      cp.child.lines.some((l) => /reject 507 PUT \/v1\/resources: cannot write .*resources\.json/.test(l)),
      cp.child.lines.join('\n'),
    );

    // Nothing half-written, nothing forgotten: the file and the API still hold the last good state.
    assert.equal(await readFile(path.join(dataDir, 'resources.json'), 'utf8'), stored);
    assert.deepEqual(
      (await readdir(dataDir)).filter((n) => n.endsWith('.tmp')),
      [],
    );
    assert.equal((await call(cp.url, 'GET', '/v1/resources/Service/default/kept')).status, 200);
    assert.equal((await call(cp.url, 'GET', '/v1/resources/Service/default/lost')).status, 404);

    // A restart on the full disk: nothing it has is rewritten, so it starts and serves.
    assert.equal(await cp.stop(), 0);
    cp = await startControlPlane({ dataDir });
    assert.equal((await call(cp.url, 'GET', '/v1/resources/Service/default/kept')).status, 200);
    assert.equal((await call(cp.url, 'PUT', '/v1/resources', { ...service, metadata: { name: 'lost' } })).status, 507);
  });
});
