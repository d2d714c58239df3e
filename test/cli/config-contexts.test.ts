/** `hyphae config` contexts and their precedence under flags and environment, against a real control plane (src/cli/contexts, commands/config.ts). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { cliPath } from '../helpers/process.js';

const exec = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a shell with no HYPHAE_* connection variables, only the config file and `env`. */
function cleanEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HYPHAE_')));
  return { ...base, ...env };
}

const SERVICE = 'apiVersion: hyphae.dev/v1\nkind: Service\nmetadata: { name: ctx-test }\nspec: {}\n';

describe('hyphae config contexts', () => {
  let cp: RunningControlPlane;
  let dir: string;
  let config: string;
  let serviceFile: string;

  before(async () => {
    cp = await startControlPlane();
    dir = await makeTempDir('hyphae-config-');
    config = path.join(dir, 'conf', 'config.yaml');
    serviceFile = path.join(dir, 'service.yaml');
    await writeFile(serviceFile, SERVICE);
    // The admin token in a file of its own, next to the config file.
    await mkdir(path.join(dir, 'conf'), { mode: 0o700 });
    await copyFile(path.join(cp.dataDir, 'admin-token'), path.join(dir, 'conf', 'admin-token'));
    await chmod(path.join(dir, 'conf', 'admin-token'), 0o600);
  });

  after(async () => {
    await cp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function hyphae(args: string[], env: Record<string, string> = {}): Promise<Run> {
    try {
      const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { timeout: 60_000, env: cleanEnv({ HYPHAE_CONFIG: config, ...env }) });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('set-context writes a private file; the first context is current; commands then need no flags', async () => {
    const none = await hyphae(['config', 'get-contexts']);
    assert.equal(none.code, 0);
    assert.match(none.stderr, /no contexts in .*config\.yaml/);
    const set = await hyphae(['config', 'set-context', 'local', '--control-plane', cp.url, '--ca-file', cp.caFile!, '--token-file', path.join(dir, 'conf', 'admin-token')]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'Context "local" created (and made the current context).\n');
    assert.equal((await stat(config)).mode & 0o777, 0o600);
    const list = await hyphae(['config', 'get-contexts']);
    assert.match(list.stdout, new RegExp(`^CURRENT +NAME +CONTROL PLANE +CA FILE +TOKEN FILE\\n\\* +local +${cp.url.replace(/\./g, '\\.')} `));
    assert.equal((await hyphae(['config', 'current-context'])).stdout, 'local\n');

    // A write needs the admin token: it came from the context's token file.
    const applied = await hyphae(['apply', '-f', serviceFile]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(applied.stdout, 'Service default/ctx-test created\n');
  });

  it('flags, then the environment, then the context; a URL from elsewhere never gets the context token', async () => {
    // A flag naming the control plane wins, and the file is left aside.
    const flag = await hyphae(['status', '--control-plane', 'http://127.0.0.1:9']);
    assert.equal(flag.code, 1);
    assert.match(flag.stderr, /cannot reach the control plane at http:\/\/127\.0\.0\.1:9/);
    const fromEnv = await hyphae(['status'], { HYPHAE_CONTROL_PLANE: 'http://127.0.0.1:9' });
    assert.equal(fromEnv.code, 1);
    assert.match(fromEnv.stderr, /at http:\/\/127\.0\.0\.1:9/);
    // The same control plane named by the environment: reachable with its CA, but the context's token is
    // not sent to a URL the context did not name, so a write is refused.
    const noToken = await hyphae(['apply', '-f', serviceFile], { HYPHAE_CONTROL_PLANE: cp.url, HYPHAE_CA_FILE: cp.caFile! });
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /HYPHAE_ERR_UNAUTHENTICATED/);
    // --context is a flag: it beats the environment.
    const picked = await hyphae(['apply', '-f', serviceFile, '--context', 'local'], { HYPHAE_CONTROL_PLANE: 'http://127.0.0.1:9', HYPHAE_ADMIN_TOKEN: 'not-this-one' });
    assert.equal(picked.code, 0, picked.stderr);
    assert.equal(picked.stdout, 'Service default/ctx-test unchanged\n');
    // Other flags still win over the context's fields.
    const badCa = await hyphae(['status', '--context', 'local', '--ca-file', path.join(dir, 'nosuch.pem')]);
    assert.equal(badCa.code, 2);
    assert.match(badCa.stderr, /cannot read --ca-file .*nosuch\.pem/);
    const both = await hyphae(['status', '--context', 'local', '--control-plane', cp.url]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --context or --control-plane, not both/);
    const unknown = await hyphae(['status', '--context', 'nosuch']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /context "nosuch" is not in .*config\.yaml \(contexts: local\)/);
  });

  it('use-context switches; paths in the file are relative to it; a token, or a file others could write, is refused', async () => {
    assert.equal((await hyphae(['config', 'set-context', 'other', '--control-plane', 'http://127.0.0.1:9'])).stdout, 'Context "other" created.\n');
    assert.equal((await hyphae(['config', 'use-context', 'other'])).stdout, 'Switched to context "other".\n');
    assert.match((await hyphae(['status'])).stderr, /at http:\/\/127\.0\.0\.1:9/);
    assert.equal((await hyphae(['config', 'use-context', 'nosuch'])).code, 1);

    // Written by hand, with paths relative to the file.
    await writeFile(config, `currentContext: rel\ncontexts:\n  - { name: rel, controlPlane: ${cp.url}, caFile: ${path.relative(path.dirname(config), cp.caFile!)}, tokenFile: admin-token }\n`, {
      mode: 0o600,
    });
    const rel = await hyphae(['apply', '-f', serviceFile]);
    assert.equal(rel.code, 0, rel.stderr);

    const withToken = `contexts:\n  - { name: t, controlPlane: ${cp.url}, token: abc }\ncurrentContext: t\n`;
    await writeFile(config, withToken);
    const refused = await hyphae(['status']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /contexts\[0\]\.token: the config file names a token file \(tokenFile\), never the token itself/);
    assert.equal((await hyphae(['config', 'set-context', 'x', '--control-plane', cp.url, '--token', 'abc'])).code, 2);

    await writeFile(config, `currentContext: rel\ncontexts:\n  - { name: rel, controlPlane: ${cp.url} }\n`);
    await chmod(config, 0o620);
    const unsafe = await hyphae(['status']);
    assert.equal(unsafe.code, 1);
    assert.match(unsafe.stderr, /HYPHAE_ERR_UNSAFE_PERMISSIONS: the hyphae config file .*config\.yaml is writable by its group \(mode 0620\).*chmod 600/);
    // With the control plane named by a flag the file is not read, so it stops nothing.
    assert.equal((await hyphae(['version', '--client'])).code, 0);
    const named = await hyphae(['version', '--control-plane', cp.url, '--ca-file', cp.caFile!]);
    assert.equal(named.code, 0, named.stderr);
    await chmod(config, 0o600);
    assert.match(await readFile(config, 'utf8'), /name: rel/);
  });

  it('usage errors exit 2', async () => {
    for (const args of [
      ['config'],
      ['config', 'use-context'],
      ['config', 'get-contexts', 'x'],
      ['config', 'frobnicate'],
      ['config', 'set-context', 'new'],
      ['config', 'use-context', 'a', '--ca-file', 'x'],
    ]) {
      const r = await hyphae(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});
