/**
 * The data directory's lock with real control planes (child processes) as
 * PID 1 of fresh PID namespaces (`unshare --pid --fork --mount-proc`): the
 * container case, where the pid a lock file names is 1 for the dead holder, the
 * live one and the reader alike. A SIGKILLed PID 1 (its whole namespace gone)
 * must not keep the directory locked; a live one in another namespace must.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { call, trustControlPlane } from '../helpers/control-plane.js';
import { scratch } from '../helpers/scratch.js';
import { cliPath, startCommand, type Child } from '../helpers/process.js';

const exec = promisify(execFile);

const { tempDir, keep } = scratch('hyphae-lock-ns-');

/** The lock file's holder: JSON, or a bare pid (the format before). */
async function holderOf(dir: string): Promise<{ pid: number; startedAt?: string }> {
  const text = (await readFile(path.join(dir, 'lock'), 'utf8')).trim();
  return /^\d+$/.test(text) ? { pid: Number(text) } : (JSON.parse(text) as { pid: number; startedAt?: string });
}

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
  keep(child);
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
    assert.notEqual(now.startedAt, before.startedAt, "the lock is the new control plane's");
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
