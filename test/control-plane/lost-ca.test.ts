/**
 * A data directory that lost its CA state (ca.json) but kept the rest must not
 * silently become a new root: the control plane (a child process) refuses to
 * start, names the file and the way back, and writes nothing; --new-ca makes
 * the new root on purpose.
 */
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { makeTempDir, startControlPlane } from '../helpers/control-plane.js';
import { cliPath, startNode, type Child } from '../helpers/process.js';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/** Start `hyphae control-plane` and resolve when it either listens or exits (a refusal must not look like a hang). */
async function start(dataDir: string, extra: string[] = []): Promise<{ child: Child; listening: boolean }> {
  const child = startNode(cliPath, ['control-plane', '--port', '0', '--data-dir', dataDir, ...extra]);
  const listening = await Promise.race([child.waitFor(/listening https:/, 60_000).then(() => true), child.exited.then(() => false)]);
  return { child, listening };
}

describe('a data directory without its CA state', () => {
  it('refuses to start, naming ca.json and the recovery steps, and changes nothing; restoring the file or --new-ca starts it', { timeout: 180_000 }, async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const caJson = path.join(dataDir, 'ca.json');
    const bundleFile = path.join(dataDir, 'ca-bundle.pem');
    const cp = await startControlPlane({ dataDir });
    await cp.stop();
    const backup = await readFile(caJson);
    const bundle = await readFile(bundleFile, 'utf8');
    const bundleMtime = (await stat(bundleFile)).mtimeMs;
    await rm(caJson);

    const refused = await start(dataDir);
    assert.equal(refused.listening, false, `a start without ca.json must be refused:\n${refused.child.lines.join('\n')}`);
    assert.equal(await refused.child.exited, 1);
    const out = refused.child.lines.join('\n');
    assert.match(out, new RegExp(`the data directory ${dataDir} holds ca-bundle.pem but not the CA state ${caJson}: the CA that workloads trust is missing`));
    assert.match(out, new RegExp(`Restore ${caJson} from a backup and start again`));
    assert.match(out, /start once with --new-ca to make a new root CA/);
    assert.ok(!out.includes('ca created'), out);
    await assert.rejects(stat(caJson), /ENOENT/, 'no new CA state was written');
    assert.equal(await readFile(bundleFile, 'utf8'), bundle, 'the trust bundle workloads hold is untouched');
    assert.equal((await stat(bundleFile)).mtimeMs, bundleMtime);

    // The way back: the file restored, the same CA, and the bundle is not even rewritten.
    await writeFile(caJson, backup, { mode: 0o600 });
    const restored = await start(dataDir);
    assert.ok(restored.listening, restored.child.lines.join('\n'));
    assert.equal(await readFile(bundleFile, 'utf8'), bundle);
    assert.equal((await stat(bundleFile)).mtimeMs, bundleMtime, 'an unchanged bundle is not rewritten at start');
    await restored.child.kill('SIGTERM');

    // Lost for good: a new root only when asked.
    await rm(caJson);
    const renewed = await start(dataDir, ['--new-ca']);
    assert.ok(renewed.listening, renewed.child.lines.join('\n'));
    assert.ok(
      renewed.child.lines.some((l) => /WARNING --new-ca: .*ca\.json is missing and a new root CA is made/.test(l)),
      renewed.child.lines.join('\n'),
    );
    assert.ok(renewed.child.lines.some((l) => /ca created a self-signed root/.test(l)));
    assert.notEqual(await readFile(bundleFile, 'utf8'), bundle, 'a new root, in a new bundle');
    await renewed.child.kill('SIGTERM');

    // A flag left in a unit file never replaces a CA that is there.
    const newBundle = await readFile(bundleFile, 'utf8');
    const again = await start(dataDir, ['--new-ca']);
    assert.ok(again.listening, again.child.lines.join('\n'));
    assert.ok(
      again.child.lines.some((l) => /--new-ca ignored: .*ca\.json holds the CA/.test(l)),
      again.child.lines.join('\n'),
    );
    assert.equal(await readFile(bundleFile, 'utf8'), newBundle);
    await again.child.kill('SIGTERM');
  });
});
