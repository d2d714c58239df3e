/**
 * A contexts file that is not valid (src/cli/contexts/config-file.ts, validated by ./config-schema.ts, which is
 * loaded only when the file exists): every problem listed with its field, the same on a read command and on
 * `hyphae config`, exit 1. No control plane: the file is refused before anything is sent (HYPHAE_CONTROL_PLANE
 * is unset here, or the file would not be read: an address from the environment wins over it).
 */
import assert from 'node:assert/strict';
import { chmod, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../../helpers/cli.js';
import { makeTempDir } from '../../helpers/control-plane.js';

describe('a contexts file that is not valid', () => {
  let dir: string;

  before(async () => {
    dir = await makeTempDir('hyphae-config-file-');
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: [string, string, string][] = [
    ['unknown key', 'contexts:\n  - { name: a, controlPlane: http://127.0.0.1:9, extra: 1 }\n', 'is not valid:\n  contexts.0: Unrecognized key: "extra"\n'],
    [
      'bad name and URL',
      'contexts:\n  - { name: "-a", controlPlane: "ftp://x" }\n',
      'is not valid:\n  contexts.0.name: letters, digits, ".", "_" and "-", starting with a letter or digit, at most 63\n  contexts.0.controlPlane: an http:// or https:// URL\n',
    ],
    [
      'wrong types',
      'currentContext: 3\nfoo: bar\ncontexts:\n  - { name: a, controlPlane: 5, caFile: "" }\n',
      'is not valid:\n  currentContext: Invalid input: expected string, received number\n  contexts.0.controlPlane: Invalid input: expected string, received number\n  contexts.0.caFile: Too small: expected string to have >=1 characters\n  (file): Unrecognized key: "foo"\n',
    ],
    ['a context twice', 'contexts:\n  - { name: a, controlPlane: http://127.0.0.1:9 }\n  - { name: a, controlPlane: http://127.0.0.1:8 }\n', 'defines context "a" twice\n'],
  ];

  it('lists every problem, on a read command and on hyphae config alike (exit 1)', async () => {
    // Independent runs, all at once: each is a process start. `hyphae config` reads the file as every command
    // does (readConfig); one case shows it.
    const runs = cases.map(async ([name, text, problem], i) => {
      const file = path.join(dir, `${name.replace(/ /g, '-')}.yaml`);
      await writeFile(file, text);
      await chmod(file, 0o600);
      const args = i === 0 ? ['config', 'get-contexts'] : ['get', 'services'];
      const r = await runCli(args, { HYPHAE_CONFIG: file, HYPHAE_CONTROL_PLANE: undefined });
      assert.equal(r.code, 1, `${name}, hyphae ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, `hyphae ${args[0]}: the hyphae config file ${file} ${problem}`, name);
    });
    await Promise.all(runs);
  });

  it('a file that is not YAML names the file and the place', async () => {
    const file = path.join(dir, 'broken.yaml');
    await writeFile(file, 'contexts: [\n');
    await chmod(file, 0o600);
    const r = await runCli(['status'], { HYPHAE_CONFIG: file, HYPHAE_CONTROL_PLANE: undefined });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^hyphae status: cannot read the hyphae config file ${file}: .* at line 2, column 1:\\n$`));
  });
});
