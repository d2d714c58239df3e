/**
 * What the control plane trusts from disk (a child process each time): a data
 * directory or token file another user could have written is refused, as ssh
 * refuses such an authorized_keys, naming the file and the fix; an admin token
 * shorter than 32 characters is refused. The tests run as root, so "another
 * user" is `nobody`.
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { makeTempDir } from '../helpers/control-plane.js';
import { cliPath, startNode, type Child } from '../helpers/process.js';

const NOBODY = 65534;
const PLANTED = 'planted-admin-token-0123456789abcdef0123456789';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const d = await makeTempDir('hyphae-perm-');
  dirs.push(d);
  return d;
}

/** Start `hyphae control-plane` and resolve once it listens or exits; a refusal must exit 1 without listening. */
async function refused(dataDir: string, extra: string[] = []): Promise<string> {
  const child: Child = startNode(cliPath, ['control-plane', '--port', '0', '--data-dir', dataDir, ...extra]);
  const listening = await Promise.race([child.waitFor(/listening https:/, 60_000).then(() => true), child.exited.then(() => false)]);
  if (listening) await child.kill('SIGKILL');
  const out = child.lines.join('\n');
  assert.equal(listening, false, `the start must be refused:\n${out}`);
  assert.equal(await child.exited, 1, out);
  return out;
}

const asRoot = typeof process.geteuid === 'function' && process.geteuid() === 0 ? undefined : 'chown to another user needs root';

describe('the data directory and secret files must be private', () => {
  it('refuses a world-writable data directory holding a planted admin token, naming it and the chmod fix', async () => {
    const dataDir = await tempDir();
    await writeFile(path.join(dataDir, 'admin-token'), `${PLANTED}\n`, { mode: 0o600 });
    await chmod(dataDir, 0o777);
    const out = await refused(dataDir);
    assert.match(
      out,
      new RegExp(
        `HYPHAE_ERR_UNSAFE_PERMISSIONS: the data directory ${dataDir} is writable by group and others \\(mode 0777\\): another user could have put it there or changed it. Fix with: chmod 700 ${dataDir}`,
      ),
    );
    assert.ok(!out.includes('admin token read from'), 'the planted token was never adopted');
  });

  it('refuses a data directory, or an admin token in it, owned by another user, naming the chown fix', { skip: asRoot }, async () => {
    const theirs = await tempDir();
    await chown(theirs, NOBODY, NOBODY);
    const out = await refused(theirs);
    assert.match(out, new RegExp(`the data directory ${theirs} is owned by uid ${NOBODY}, not by this user \\(uid 0\\) or root: .* fix with: chown 0 ${theirs} && chmod 700 ${theirs}`));

    const ours = await tempDir();
    const token = path.join(ours, 'admin-token');
    await writeFile(token, `${PLANTED}\n`, { mode: 0o600 });
    await chown(token, NOBODY, NOBODY);
    assert.match(await refused(ours), new RegExp(`HYPHAE_ERR_UNSAFE_PERMISSIONS: admin-token in the data directory ${token} is owned by uid ${NOBODY}`));
  });

  it('refuses a data directory under a parent others may write (no sticky bit), and a group-writable --admin-token-file', async () => {
    const root = await tempDir();
    const open = path.join(root, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    const dataDir = path.join(open, 'data');
    assert.match(
      await refused(dataDir),
      new RegExp(`${open}, a parent directory of the data directory ${dataDir}, is writable by group and others without the sticky bit \\(mode 0777\\): .*Fix with: chmod go-w ${open}`),
    );

    const dir = await tempDir();
    const file = path.join(root, 'admin.token');
    await writeFile(file, `${PLANTED}\n`);
    await chmod(file, 0o664);
    assert.match(await refused(dir, ['--admin-token-file', file]), new RegExp(`--admin-token-file ${file} is writable by its group \\(mode 0664\\).*Fix with: chmod 600 ${file}`));
  });

  it('refuses an admin token shorter than 32 characters, in the data directory or --admin-token-file', async () => {
    const dataDir = await tempDir();
    const own = path.join(dataDir, 'admin-token');
    await writeFile(own, 'ab\n', { mode: 0o600 });
    assert.match(await refused(dataDir), new RegExp(`${own} must hold one admin token of 32 to 512 characters without spaces \\(it holds 2 characters\\): remove it to have a new one made`));

    const other = await tempDir();
    const file = path.join(other, 'admin.token');
    await writeFile(file, 'twenty-characters-ab\n', { mode: 0o600 });
    assert.match(
      await refused(await tempDir(), ['--admin-token-file', file]),
      new RegExp(`--admin-token-file ${file} must hold one admin token of 32 to 512 characters without spaces \\(it holds 20 characters\\)`),
    );
  });
});
