/** `-f -` (standard input) for apply, diff and delete, and diff's exit codes, against a real control plane (src/cli/documents.ts, commands/diff.ts). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { cliPath } from '../helpers/process.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI with `input` on its standard input (a real pipe, closed after the input, as a shell pipeline does). */
async function hyphae(args: string[], input?: string): Promise<Run> {
  const child = spawn(process.execPath, [cliPath, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.end(input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const svc = (name: string, lb = 'round_robin') => `apiVersion: hyphae.dev/v1\nkind: Service\nmetadata: { name: ${name} }\nspec: { loadBalancer: ${lb} }\n`;

describe('-f - and diff exit codes', () => {
  let cp: RunningControlPlane;
  let dir: string;

  before(async () => {
    cp = await startControlPlane();
    dir = await makeTempDir('hyphae-docs-');
  });

  after(async () => {
    await cp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('apply -f - reads the documents from standard input, beside files, and names <stdin> in problems', async () => {
    await writeFile(path.join(dir, 'b.yaml'), svc('from-file'));
    const r = await hyphae(['apply', '-f', '-', '-f', path.join(dir, 'b.yaml'), ...cp.cliFlags], `${svc('piped-a')}---\n${svc('piped-b')}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Service default/piped-a created\nService default/piped-b created\nService default/from-file created\n');
    const stored = await call<{ items: { metadata: { name: string } }[] }>(cp.url, 'GET', '/v1/resources?kind=Service');
    assert.deepEqual(stored.body.items.map((i) => i.metadata.name).sort(), ['from-file', 'piped-a', 'piped-b']);

    const bad = await hyphae(['apply', '-f', '-', ...cp.cliFlags], `${svc('fine')}---\nkind: Service\nmetadata: { name: [\n`);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /<stdin> \(document 2, line \d+\): /);
    const twice = await hyphae(['apply', '-f', '-', '-f', '-', ...cp.cliFlags], svc('x'));
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /-f - \(standard input\) can be given once/);
    const empty = await hyphae(['apply', '-f', '-', ...cp.cliFlags], '');
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /no resources found in -/);
  });

  it('diff -f - says no changes (0), then differences (1); apply -f - of the same is unchanged', async () => {
    const same = await hyphae(['diff', '-f', '-', ...cp.cliFlags], svc('piped-a'));
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stdout, '');
    assert.match(same.stderr, /no changes/);
    const again = await hyphae(['apply', '-f', '-', ...cp.cliFlags], svc('piped-a'));
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'Service default/piped-a unchanged\n');

    const changed = await hyphae(['diff', '-f', '-', ...cp.cliFlags], svc('piped-a', 'least_request'));
    assert.equal(changed.code, 1, changed.stderr);
    assert.match(changed.stdout, /^--- stored\/Service\/default\/piped-a\n\+\+\+ new\/Service\/default\/piped-a\n/);
    assert.match(changed.stdout, /\n\+\s+loadBalancer: least_request\n/);
  });

  it('diff exits 2 when it cannot tell: invalid documents, a missing file, an unreachable control plane; usage errors too', async () => {
    const invalid = await hyphae(['diff', '-f', '-', ...cp.cliFlags], 'apiVersion: hyphae.dev/v1\nkind: Gadget\nmetadata: { name: x }\n');
    assert.equal(invalid.code, 2, invalid.stderr);
    assert.match(invalid.stderr, /HYPHAE_ERR_INVALID_CONFIG/);
    const missing = await hyphae(['diff', '-f', path.join(dir, 'nosuch.yaml'), ...cp.cliFlags]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nosuch\.yaml: no such file or directory/);
    const down = await hyphae(['diff', '-f', path.join(dir, 'b.yaml'), '--control-plane', 'http://127.0.0.1:9']);
    assert.equal(down.code, 2);
    assert.match(down.stderr, /cannot reach the control plane/);
    assert.equal((await hyphae(['diff', '--bogus', ...cp.cliFlags])).code, 2);
  });

  it('delete -f - removes what standard input names; a directory is read in name order, recursively', async () => {
    const del = await hyphae(['delete', '-f', '-', ...cp.cliFlags], `${svc('piped-b')}`);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.stdout, 'Service default/piped-b deleted\n');

    const tree = path.join(dir, 'tree');
    await mkdir(path.join(tree, 'sub'), { recursive: true });
    await writeFile(path.join(tree, 'z.yml'), svc('tree-z'));
    await writeFile(path.join(tree, 'a.json'), JSON.stringify({ apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'tree-a' }, spec: {} }));
    await writeFile(path.join(tree, 'sub', 'm.yaml'), svc('tree-m'));
    await writeFile(path.join(tree, 'notes.txt'), 'not a resource');
    const dry = await hyphae(['apply', '-f', tree, '--dry-run', ...cp.cliFlags]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.stdout, 'Service default/tree-a created (dry run)\nService default/tree-m created (dry run)\nService default/tree-z created (dry run)\n');
  });
});
