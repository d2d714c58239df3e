/**
 * The data directory's lock dies with its holder and holds against a live one:
 * in process (the flock lock and the identity fallback), and with real control
 * planes as PID 1 of fresh PID namespaces (`unshare --pid --fork --mount-proc`),
 * the container case where a pid in a file could never tell.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isMeshError } from '../../src/core/errors.js';
import { lockDir, LOCK_FILE, type DirLock, type LockHolder } from '../../src/control-plane/store/dir-lock.js';
import { call, makeTempDir, trustControlPlane } from '../helpers/control-plane.js';
import { buildDir, cliPath, startCommand, startNode, type Child } from '../helpers/process.js';

const exec = promisify(execFile);
const NO_FLOCK = { flockCommand: path.join(os.tmpdir(), 'no-such-flock-command') };

const dirs: string[] = [];
const children: Child[] = [];
after(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const d = await makeTempDir('hyphae-lock-');
  dirs.push(d);
  return d;
}

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
    await writeFile(script, `import { lockDir } from ${JSON.stringify(path.join(buildDir, 'src/control-plane/store/dir-lock.js'))};\nconst l = await lockDir(process.argv[2]);\nconsole.log('locked ' + l.kind);\nsetInterval(() => {}, 1000);\n`);
    await mkdir(path.join(dir, 'data'));
    const child = startNode(script, [path.join(dir, 'data')]);
    children.push(child);
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

/** Whether this machine lets the test make PID namespaces (root, and no seccomp policy against unshare). */
async function namespaces(): Promise<string | undefined> {
  try {
    await exec('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', 'true'], { timeout: 10_000 });
    return undefined;
  } catch (err) {
    return `unshare --pid --fork --mount-proc is refused here (${String((err as { stderr?: string }).stderr ?? (err as Error).message).trim()})`;
  }
}
const skipNamespaces = await namespaces();

/** `hyphae control-plane` as PID 1 of a new PID namespace; SIGKILL of that PID 1 ends the namespace. */
function controlPlaneAsPid1(dataDir: string): Child {
  const child = startCommand(
    'unshare',
    ['--pid', '--fork', '--mount-proc', '--kill-child=SIGKILL', process.execPath, cliPath, 'control-plane', '--port', '0', '--data-dir', dataDir],
    { NODE_NO_WARNINGS: '1' },
    'control-plane (PID 1 of its namespace)',
  );
  children.push(child);
  return child;
}

/** The namespace's PID 1 as the root namespace numbers it: the child unshare forked. */
async function pid1Of(unshare: Child): Promise<number> {
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === unshare.proc.pid) return Number(name);
  }
  throw new Error(`no child of unshare ${unshare.proc.pid}`);
}

/** unshare --fork ignores SIGTERM while it waits for its child: the control plane itself is told to stop. */
async function stopPid1(unshare: Child): Promise<void> {
  process.kill(await pid1Of(unshare), 'SIGTERM');
  assert.equal(await unshare.exited, 0);
}

describe('a control plane as PID 1 of a PID namespace', { skip: skipNamespaces }, () => {
  it('restarts on its data directory after the namespace was killed (SIGKILL of PID 1)', { timeout: 120_000 }, async () => {
    const dataDir = await tempDir();
    const first = controlPlaneAsPid1(dataDir);
    await first.waitFor(/listening https:/, 60_000);
    const before = await holderOf(dataDir);
    assert.equal(before.pid, 1, 'the holder is PID 1 of its namespace');
    process.kill(await pid1Of(first), 'SIGKILL');
    // unshare waits for its child: once it has exited, PID 1 is gone and its descriptors closed.
    await first.exited;

    const second = controlPlaneAsPid1(dataDir);
    await second.waitFor(/listening https:/, 60_000);
    const now = await holderOf(dataDir);
    assert.equal(now.pid, 1);
    assert.notEqual(now.startedAt, before.startedAt, 'the lock is the new control plane\'s');
    await stopPid1(second);
  });

  it('refuses a second control plane while the first runs, each PID 1 of its own namespace', { timeout: 120_000 }, async () => {
    const dataDir = await tempDir();
    const first = controlPlaneAsPid1(dataDir);
    const url = (await first.waitFor(/listening (https:\S+)/, 60_000))[1]!;
    const second = controlPlaneAsPid1(dataDir);
    const code = await second.exited;
    assert.notEqual(code, 0);
    const out = second.lines.join('\n');
    assert.match(out, new RegExp(`data directory ${dataDir} is in use by another control plane \\(pid 1 in another PID namespace on host ${os.hostname()}, since `));
    assert.match(out, /Stop that control plane, or choose another --data-dir/);
    assert.ok(!second.lines.some((l) => /listening/.test(l)), out);
    // The first one runs on, untouched.
    await trustControlPlane({ url, caFile: path.join(dataDir, 'ca-bundle.pem'), adminTokenFile: path.join(dataDir, 'admin-token') });
    assert.equal((await call(url, 'GET', '/v1/health')).status, 200);
    assert.equal((await holderOf(dataDir)).pid, 1);
    await stopPid1(first);
  });
});
