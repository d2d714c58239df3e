/**
 * The data directory's lock dies with its holder and holds against a live one,
 * in process: the flock lock, and the identity fallback used where there is no
 * `flock` command. dir-lock-namespaces.test.ts runs real control planes as PID 1
 * of PID namespaces.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import { lockDir, LOCK_FILE, type DirLock, type LockHolder } from '../../src/control-plane/store/dir-lock.js';
import { scratch } from '../helpers/scratch.js';
import { buildDir, startCommand, startNode } from '../helpers/process.js';

const NO_FLOCK = { flockCommand: path.join(os.tmpdir(), 'no-such-flock-command') };

const { tempDir, keep } = scratch('hyphae-lock-');

async function holderOf(dir: string): Promise<LockHolder> {
  return JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8')) as LockHolder;
}

/** A process that exited: its pid names nobody (until reused, which the start time tells). */
async function deadPid(): Promise<number> {
  const child = startCommand('true', []);
  await child.exited;
  return child.proc.pid!;
}

describe('lockDir (in process)', () => {
  it('flock: refuses a second holder while the first lives, with who holds it; free again after release', async () => {
    const dir = await tempDir();
    const first = await lockDir(dir);
    assert.equal(first.kind, 'flock');
    const holder = await holderOf(dir);
    assert.equal(holder.pid, process.pid);
    assert.equal(holder.flock, true);
    await assert.rejects(lockDir(dir), (err: unknown) => {
      assert.ok(isMeshError(err, 'HYPHAE_ERR_INVALID_OPTIONS'));
      assert.match(err.message, new RegExp(`data directory ${dir} is in use by another control plane \\(pid ${process.pid} on host ${os.hostname()}, since `));
      assert.ok(err.message.includes(path.join(dir, LOCK_FILE)), err.message);
      return true;
    });
    await first.release();
    assert.deepEqual(await readdir(dir), [], 'a clean release removes the lock file');
    const second = await lockDir(dir);
    await second.release();
  });

  it('flock: a holder killed with SIGKILL leaves the directory free (the kernel drops its lock)', async () => {
    const dir = await tempDir();
    const script = path.join(dir, 'hold.mjs');
    await writeFile(
      script,
      `import { lockDir } from ${JSON.stringify(path.join(buildDir, 'src/control-plane/store/dir-lock.js'))};\nconst l = await lockDir(process.argv[2]);\nconsole.log('locked ' + l.kind);\nsetInterval(() => {}, 1000);\n`,
    );
    await mkdir(path.join(dir, 'data'));
    const child = startNode(script, [path.join(dir, 'data')]);
    keep(child);
    await child.waitFor(/^locked flock$/, 15_000);
    await assert.rejects(lockDir(path.join(dir, 'data')), /is in use by another control plane/);
    await child.kill('SIGKILL');
    const lock = await lockDir(path.join(dir, 'data'));
    assert.equal((await holderOf(path.join(dir, 'data'))).pid, process.pid, 'taken over, and the file names the new holder');
    await lock.release();
  });

  it('identity fallback (no flock command): refuses a live holder, takes over a dead or reused pid and a lock from before a reboot', async () => {
    const dir = await tempDir();
    const lock: DirLock = await lockDir(dir, NO_FLOCK);
    assert.equal(lock.kind, 'identity');
    const self = await holderOf(dir);
    assert.equal(self.flock, false);
    await assert.rejects(lockDir(dir, NO_FLOCK), new RegExp(`is in use by another control plane \\(pid ${process.pid} `));
    // A control plane that has flock honours the fallback's lock of a live holder too.
    await assert.rejects(lockDir(dir), new RegExp(`is in use by another control plane \\(pid ${process.pid} `));
    await lock.release();

    const file = path.join(dir, LOCK_FILE);
    const stale: LockHolder[] = [
      { ...self, pid: await deadPid() },
      // Our own pid, but another process's start time: the pid was reused (PID 1 of the next container).
      ...(self.startTime ? [{ ...self, startTime: String(Number(self.startTime) + 1) }] : []),
      ...(self.bootId ? [{ ...self, bootId: '00000000-0000-0000-0000-000000000000' }] : []),
    ];
    for (const h of stale) {
      await writeFile(file, JSON.stringify(h));
      const taken = await lockDir(dir, NO_FLOCK);
      assert.equal((await holderOf(dir)).pid, process.pid, JSON.stringify(h));
      await taken.release();
    }
  });

  it('identity fallback: a holder in another PID namespace cannot be judged, so it is refused with the way to remove its lock', { skip: process.platform !== 'linux' }, async () => {
    const dir = await tempDir();
    const self = await lockDir(dir, NO_FLOCK).then(async (l) => {
      const h = await holderOf(dir);
      await l.release();
      return h;
    });
    const file = path.join(dir, LOCK_FILE);
    await writeFile(file, JSON.stringify({ ...self, pid: 1, pidNs: 'pid:[1]' }));
    await assert.rejects(lockDir(dir, NO_FLOCK), (err: unknown) => {
      assert.ok(isMeshError(err));
      assert.match(err.message, /in use by another control plane \(pid 1 in another PID namespace/);
      assert.match(err.message, new RegExp(`if no control plane uses ${dir}, remove ${file}`));
      return true;
    });
  });
});
