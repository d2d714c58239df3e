/**
 * What a `hyphae` command loads (src/cli/main.ts, and what the commands import on demand; docs/architecture.md,
 * "The CLI's start"): the commands that read from the control plane and print, and every --help, load neither
 * zod nor yaml, which were ~170 of the ~200 modules every command loaded. YAML output and a contexts file load
 * them, which also shows that the module list would see them. Each run lists its modules through module hooks
 * (test/helpers/module-list.ts); the control plane is a port nothing listens on, which is all these need.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { makeTempDir } from '../helpers/control-plane.js';
import { moduleListFlags } from '../helpers/module-list.js';
import { cliPath } from '../helpers/process.js';

const exec = promisify(execFile);
const HEAVY = /\/node_modules\/(zod|yaml)\//;

describe('the modules a hyphae command loads', () => {
  let dir: string;
  let url: string;
  let runs = 0;

  before(async () => {
    dir = await makeTempDir('hyphae-cli-modules-');
    // A port that was free a moment ago: the commands fail to connect, as against a control plane that is down.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** One CLI run with its module list; no HYPHAE_* from this shell, and a contexts file only when given. */
  async function hyphae(args: string[], config = path.join(dir, 'none.yaml')): Promise<{ code: number; stdout: string; stderr: string; modules: string[] }> {
    const list = path.join(dir, `modules-${++runs}.txt`);
    await writeFile(list, '');
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HYPHAE_'))), HYPHAE_CONFIG: config };
    let out: { code: number; stdout: string; stderr: string };
    try {
      const { stdout, stderr } = await exec(process.execPath, [...moduleListFlags(list), cliPath, ...args], { timeout: 60_000, env });
      out = { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      out = { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
    const modules = (await readFile(list, 'utf8')).split('\n').filter((m) => m !== '');
    // The list works: it holds the CLI's own entry point.
    assert.ok(
      modules.some((m) => m.endsWith('/build/src/cli/main.js')),
      `no module list from hyphae ${args.join(' ')}: ${out.stderr}`,
    );
    return { ...out, modules };
  }

  it('read commands, their failures and --help load neither zod nor yaml', async () => {
    const runsOf: [string[], number, RegExp][] = [
      [['--help'], 0, /^$/],
      [['get', '--help'], 0, /^$/],
      [['get', 'services', '--control-plane', url], 1, /^hyphae get: cannot reach the control plane at http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/],
      [['get', 'routes', '-o', 'yaml', '--control-plane', url], 1, /^hyphae get: cannot reach the control plane/],
      [['status', '--control-plane', url], 1, /^hyphae status: cannot reach the control plane/],
      [['describe', 'service', 'api', '--control-plane', url], 1, /^hyphae describe: cannot reach the control plane/],
      [['tap', 'api', '--control-plane', url], 1, /^hyphae tap: cannot reach the control plane/],
      [['delete', 'svc', 'api', '--control-plane', url], 1, /^hyphae delete: cannot reach the control plane/],
    ];
    // Independent runs, all at once: each is a process start.
    await Promise.all(
      runsOf.map(async ([args, code, stderr]) => {
        const r = await hyphae(args);
        assert.equal(r.code, code, `hyphae ${args.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, stderr);
        assert.deepEqual(
          r.modules.filter((m) => HEAVY.test(m)),
          [],
          `hyphae ${args.join(' ')}`,
        );
      }),
    );
  });

  it('a contexts file loads both, to validate it; YAML output loads yaml', async () => {
    const config = path.join(dir, 'config.yaml');
    await writeFile(config, `currentContext: down\ncontexts:\n  - { name: down, controlPlane: ${url} }\n`);
    await chmod(config, 0o600);
    const viaContext = await hyphae(['get', 'services'], config);
    assert.equal(viaContext.code, 1);
    assert.match(viaContext.stderr, new RegExp(`^hyphae get: cannot reach the control plane at ${url}:`));
    assert.ok(viaContext.modules.some((m) => m.includes('/node_modules/zod/')));
    assert.ok(viaContext.modules.some((m) => m.includes('/node_modules/yaml/')));

    const yaml = await hyphae(['config', 'get-contexts', '-o', 'yaml'], config);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.equal(yaml.stdout, `currentContext: down\ncontexts:\n  - name: down\n    controlPlane: ${url}\n`);
    assert.ok(yaml.modules.some((m) => m.includes('/node_modules/yaml/')));
  });
});
