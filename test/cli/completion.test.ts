/** `hyphae completion bash|zsh`: the bash script sourced in a real bash completes commands, flags, words and files (src/cli/commands/completion.ts). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { declaredOptions } from '../../src/cli/command.js';
import { loadAll } from '../../src/cli/commands/index.js';
import { makeTempDir } from '../helpers/control-plane.js';
import { cliPath } from '../helpers/process.js';

const exec = promisify(execFile);

describe('hyphae completion', () => {
  let dir: string;
  let script: string;

  before(async () => {
    dir = await makeTempDir('hyphae-completion-');
    script = path.join(dir, 'hyphae.bash');
    const { stdout } = await exec(process.execPath, [cliPath, 'completion', 'bash'], { timeout: 60_000 });
    await writeFile(script, stdout);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** What bash offers for the command line `words` (the last one being completed), as the shell calls the function. */
  async function complete(...words: string[]): Promise<string[]> {
    const line = ['hyphae', ...words].map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
    const { stdout } = await exec(
      'bash',
      ['--norc', '--noprofile', '-c', `source "$1"; COMP_WORDS=(${line}); COMP_CWORD=${words.length}; _hyphae; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', script],
      { timeout: 30_000, cwd: dir },
    );
    return stdout.split('\n').filter((l) => l !== '');
  }

  it('bash completes command names, their flags, their first words, and files after -f', async () => {
    assert.deepEqual(await complete('ch'), ['check']);
    assert.deepEqual((await complete('c')).sort(), ['ca', 'check', 'cluster', 'completion', 'config', 'control-plane']);
    assert.deepEqual(await complete('apply', '--dr'), ['--dry-run']);
    assert.deepEqual(await complete('ca', ''), ['show', 'rotate', 'retire']);
    assert.deepEqual(await complete('get', 'r'), ['routes']);
    assert.deepEqual(await complete('get', 'routes', ''), [], 'only the first argument is a word');
    assert.deepEqual(await complete('get', '-n', 'shop', 'se'), ['services'], 'a flag value is not an argument');
    assert.deepEqual(await complete('check', '--o'), ['--output']);
    // -o is every read command's, and its value is a format, not a file.
    for (const command of ['get', 'describe', 'status', 'top', 'check', 'version', 'token', 'ca', 'config']) {
      assert.ok((await complete(command, '-')).includes('-o'), `${command} offers -o`);
      assert.deepEqual(await complete(command, '-o', ''), ['json', 'yaml', 'wide'], `${command} -o <Tab>`);
    }
    assert.deepEqual(await complete('top', '--output', 'w'), ['wide']);
    assert.deepEqual(await complete('completion', ''), ['bash', 'zsh']);
    assert.deepEqual(await complete('config', 'use'), ['use-context']);
    await mkdir(path.join(dir, 'conf'));
    await writeFile(path.join(dir, 'conf', 'routes.yaml'), '');
    assert.deepEqual(await complete('apply', '-f', 'conf/r'), ['conf/routes.yaml']);
    assert.deepEqual(await complete('diff', '--filename', 'conf/'), ['conf/routes.yaml']);
  });

  it('offers exactly the flags each command parses (never --token, which is refused)', async () => {
    for (const command of await loadAll()) {
      const options = await declaredOptions(command);
      assert.ok(options?.help, `${command.name} hands its flags over before doing anything`);
      const declared = Object.entries(options)
        .filter(([name]) => name !== 'token')
        .flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])])
        .sort();
      const offered = (await complete(command.name, '-')).sort();
      assert.deepEqual(offered, declared, command.name);
      assert.ok(!offered.includes('--token'));
    }
  });

  it('zsh gets the same function through bashcompinit; no shell or another is a usage error', async () => {
    const zsh = await exec(process.execPath, [cliPath, 'completion', 'zsh'], { timeout: 60_000 });
    assert.match(zsh.stdout, /bashcompinit/);
    assert.match(zsh.stdout, /\n_hyphae\(\) \{\n/);
    assert.match(zsh.stdout, /\ncomplete -o default -F _hyphae hyphae\n$/);
    for (const args of [['completion'], ['completion', 'fish'], ['completion', 'bash', 'zsh']]) {
      const r = await exec(process.execPath, [cliPath, ...args], { timeout: 60_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => err,
      );
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /name the shell: hyphae completion bash, or hyphae completion zsh/);
    }
  });
});
