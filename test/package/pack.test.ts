/**
 * The package as a service gets it: `npm pack` this tree (already built by
 * `npm test`), install the tarball into an empty project, and use it there —
 * import and require, TypeScript under each common module resolution, the
 * `hyphae` command, a file-store control plane with its dashboard, and the
 * etcd store's message when its optional peer is missing. Everything runs on
 * the Node running this suite (process.execPath), so each supported Node
 * checks its own install.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot, startNode } from '../helpers/process.js';

const execFileP = promisify(execFile);

/**
 * The budget of a service's install (`npm install hyphae --omit=dev`): package
 * directories under node_modules, hyphae included, and the bytes of their
 * files. Measured: 9 packages, 16 MB (`du -sm --apparent-size`; 23 MB in
 * the file system's blocks, `du -sm`). Before the etcd client and cytoscape
 * left the dependencies: 46 packages, 31 MB (41 MB in blocks). The margin leaves room for one or two
 * small runtime dependencies, not for the control plane's.
 */
const BUDGET = { packages: 12, megabytes: 24 };
/**
 * Packages a service must not get: the control plane's (etcd's gRPC stack, the dashboard's graph library),
 * and grpc-js, an optional peer that only a service using `hyphae/grpc` installs itself.
 */
const NOT_FOR_SERVICES = ['etcd3', '@grpc/grpc-js', 'protobufjs', 'cytoscape'];
const SUBPATHS = ['hyphae', 'hyphae/extend', 'hyphae/control-plane'];

/** The npm CLI's script, run with this suite's Node (a Node from a binary package has no npm of its own). */
function npmCli(script: 'npm-cli.js' | 'npx-cli.js'): string {
  const fromNpm = process.env.npm_execpath;
  if (fromNpm && path.basename(fromNpm) === 'npm-cli.js') return path.join(path.dirname(fromNpm), script);
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const bin = path.join(dir, 'npm');
    if (dir && existsSync(bin)) return path.join(path.dirname(realpathSync(bin)), script);
  }
  throw new Error('npm is not on PATH');
}

/** The environment for npm and the installed package's commands: this Node first on PATH, nothing inherited from an outer `npm test`. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  env.PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`;
  env.NODE_NO_WARNINGS = '1';
  return env;
}

async function run(file: string, args: string[], cwd: string, timeout = 120_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileP(process.execPath, [file, ...args], { cwd, env: childEnv(), timeout, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${path.basename(file)} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, { cause: err });
  }
}

/** Every package directory under node_modules, nested ones included: what npm counts as "added N packages". */
function packageDirs(nodeModules: string): string[] {
  const out: string[] = [];
  if (!existsSync(nodeModules)) return out;
  for (const name of readdirSync(nodeModules)) {
    if (name.startsWith('.')) continue;
    const dir = path.join(nodeModules, name);
    const dirs = name.startsWith('@') ? readdirSync(dir).map((n) => path.join(dir, n)) : [dir];
    for (const d of dirs) {
      if (!existsSync(path.join(d, 'package.json'))) continue;
      out.push(d);
      out.push(...packageDirs(path.join(d, 'node_modules')));
    }
  }
  return out;
}

function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(p);
    else if (entry.isFile()) total += statSync(p).size;
  }
  return total;
}

/** The packages (not `node:`) that the declaration files reachable from `entries` import, and how many files those are. */
async function packagesOfTypes(entries: string[]): Promise<{ packages: Set<string>; files: number }> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    // Without comments (an example in a doc comment is no import); `/// <reference>` lines stay.
    const text = (await readFile(file, 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/(?!\/).*$/gm, '');
    for (const m of text.matchAll(/(?:from\s+|import\(\s*|reference types=)["']([^"']+)["']/g)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) queue.push(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.d.ts')));
      else if (!spec.startsWith('node:') && spec !== 'node') packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return { packages, files: seen.size };
}

/** The README's TypeScript example, as a reader copies it. */
function readmeExample(): string {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const block = /```ts\n([\s\S]*?)```/.exec(readme);
  assert.ok(block, 'the README has a ```ts example');
  return block[1]!;
}

describe('the packed package, installed into an empty project', { timeout: 300_000 }, () => {
  let work: string;
  let project: string;
  let installed: string;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'hyphae-pack-'));
    // --ignore-scripts: prepack would build again; `npm test` has just built this tree.
    const packed = await run(npmCli('npm-cli.js'), ['pack', '--ignore-scripts', '--json', '--pack-destination', work], repoRoot);
    const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }];
    project = path.join(work, 'service');
    await mkdir(project);
    await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'service', version: '1.0.0', private: true, type: 'module' }));
    // From the npm cache where it can (after `npm ci` it holds every runtime dependency).
    await run(npmCli('npm-cli.js'), ['install', path.join(work, filename), '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], project, 240_000);
    installed = path.join(project, 'node_modules', 'hyphae');
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it(`brings only what a service loads, within ${BUDGET.packages} packages and ${BUDGET.megabytes} MB`, () => {
    const dirs = packageDirs(path.join(project, 'node_modules'));
    const names = dirs.map((d) => (JSON.parse(readFileSync(path.join(d, 'package.json'), 'utf8')) as { name: string }).name);
    for (const name of NOT_FOR_SERVICES) assert.ok(!names.includes(name), `${name} is installed: ${names.join(', ')}`);
    assert.ok(names.includes('hyphae') && names.includes('undici'), names.join(', '));
    const megabytes = bytesUnder(path.join(project, 'node_modules')) / 1e6;
    process.stdout.write(`# install: ${names.length} packages, ${megabytes.toFixed(1)} MB (${names.sort().join(', ')})\n`);
    assert.ok(names.length <= BUDGET.packages, `${names.length} packages > ${BUDGET.packages}: ${names.join(', ')}`);
    assert.ok(megabytes <= BUDGET.megabytes, `${megabytes.toFixed(1)} MB > ${BUDGET.megabytes} MB`);
  });

  it('ships the licence, the documents the README links to, the dashboard, and source maps with their sources', async () => {
    const pkg = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8')) as { license: string; repository?: unknown; homepage?: string };
    assert.equal(pkg.license, 'Apache-2.0');
    assert.ok(pkg.repository && pkg.homepage);
    assert.match(await readFile(path.join(installed, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004[\s\S]*END OF TERMS AND CONDITIONS/);
    const readme = await readFile(path.join(installed, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)#:]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!);
    assert.ok(links.length >= 3, links.join(', '));
    for (const link of links) assert.ok(existsSync(path.join(installed, link)), `README links to ${link}, not in the package`);
    const vendor = await readFile(path.join(installed, 'build/src/control-plane/dashboard/static/vendor/cytoscape.min.js'), 'utf8');
    assert.match(vendor.slice(0, 200), /Copyright \(c\) .*The Cytoscape Consortium/);
    const maps = (await readdir(path.join(installed, 'build/src'), { recursive: true })).filter((f) => f.endsWith('.js.map'));
    assert.ok(maps.length > 50, `${maps.length} source maps`);
    for (const map of maps) {
      const file = path.join(installed, 'build/src', map);
      const { sources } = JSON.parse(await readFile(file, 'utf8')) as { sources: string[] };
      for (const source of sources) assert.ok(existsSync(path.resolve(path.dirname(file), source)), `${map} names ${source}, not in the package`);
    }
    // Nothing of the repository's own tooling: tests, benches, compiled examples.
    for (const absent of ['build/test', 'build/bench', 'build/examples', 'test', 'bench']) assert.ok(!existsSync(path.join(installed, absent)), absent);
  });

  it('import and require load the same modules, with the same exported names', async () => {
    const script = `
      (async () => {
        const out = {};
        for (const id of ${JSON.stringify(SUBPATHS)}) {
          const required = require(id);
          const imported = await import(id);
          // One module instance for both loaders: no second copy of the default mesh or of MeshError.
          out[id] = { required: Object.keys(required).sort(), imported: Object.keys(imported).sort(), same: required === imported };
        }
        const { MeshError, ErrorCode } = require('hyphae');
        const e = new MeshError(ErrorCode.INVALID_OPTIONS, 'x');
        out.instanceOf = e instanceof (await import('hyphae')).MeshError;
        process.stdout.write(JSON.stringify(out));
      })();
    `;
    await writeFile(path.join(project, 'load.cjs'), script);
    const { stdout } = await run(path.join(project, 'load.cjs'), [], project);
    const out = JSON.parse(stdout) as Record<string, { required: string[]; imported: string[]; same: boolean }> & { instanceOf: boolean };
    for (const id of SUBPATHS) {
      assert.ok(out[id]!.imported.length > 0, id);
      assert.deepEqual(out[id]!.required, out[id]!.imported, id);
      assert.equal(out[id]!.same, true, `${id}: require and import gave two module instances`);
    }
    assert.ok(out.hyphae!.imported.includes('createMesh') && out.hyphae!.imported.includes('wrapServer'));
    assert.equal(out.instanceOf, true);
  });

  it('type-checks the README example and hyphae/grpc under node16, nodenext, bundler and node10 resolution', async () => {
    const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
    await writeFile(path.join(project, 'readme.ts'), `${readmeExample()}\nexport { server };\n`);
    // The subpaths' types, each used so that a wrong resolution fails rather than turning into any.
    await writeFile(
      path.join(project, 'subpaths.ts'),
      `import { StaticResolver, type Balancer } from 'hyphae/extend';
import { createControlPlane, type ControlPlane } from 'hyphae/control-plane';
import { isMeshError, type MeshOptions } from 'hyphae';
export const resolver: StaticResolver = new StaticResolver();
export const balancer: Balancer | undefined = undefined;
export const start: () => Promise<ControlPlane> = () => createControlPlane({ port: 0, dataDir: '.hyphae' });
export const options: MeshOptions = { service: 'web' };
export const check: (e: unknown) => boolean = isMeshError;
`,
    );
    // hyphae/grpc's types, with grpc-js's: the contract's client and server forms.
    await writeFile(
      path.join(project, 'grpc.ts'),
      `import * as grpc from '@grpc/grpc-js';
import type { Mesh, PeerIdentity } from 'hyphae';
import { getGrpcPeer, meshGrpcClient, meshGrpcServerOptions, serveGrpc } from 'hyphae/grpc';
export function client(mesh: Mesh): grpc.Client {
  const { target, credentials, options } = meshGrpcClient(mesh, 'api', { namespace: 'shop', retry: { on: ['UNAVAILABLE'], attempts: 2 } });
  return new grpc.Client(target, credentials, options);
}
export async function server(mesh: Mesh): Promise<number> {
  const s = new grpc.Server(meshGrpcServerOptions(mesh));
  return (await serveGrpc(mesh, s, { host: '127.0.0.1', port: 0 })).port;
}
export const peer: (call: grpc.ServerUnaryCall<unknown, unknown>) => PeerIdentity | undefined = getGrpcPeer;
`,
    );
    // CommonJS TypeScript that requires the package (TypeScript 5.8+ models Node's require(esm) under nodenext).
    await writeFile(
      path.join(project, 'required.cts'),
      `import hyphae = require('hyphae');
export const make: typeof hyphae.createMesh = hyphae.createMesh;
`,
    );
    const base = {
      strict: true,
      noEmit: true,
      // As most projects do: checking every library's declarations (zod's above all) takes half a minute a run.
      // What the declarations of the public entry points import is checked below instead.
      skipLibCheck: true,
      target: 'ES2022',
      lib: ['ES2023'],
      types: ['node'],
      // This project installs no @types/node of its own (a service would): take the repository's.
      typeRoots: [path.join(repoRoot, 'node_modules/@types')],
      // A service using hyphae/grpc installs grpc-js itself (an optional peer): this one has not, so take the repository's.
      paths: { '@grpc/grpc-js': [path.join(repoRoot, 'node_modules/@grpc/grpc-js/build/src/index.d.ts')] },
    };
    const configs: Record<string, { compilerOptions: Record<string, unknown>; files: string[] }> = {
      node16: { compilerOptions: { ...base, module: 'node16', moduleResolution: 'node16' }, files: ['readme.ts', 'subpaths.ts', 'grpc.ts'] },
      nodenext: { compilerOptions: { ...base, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['readme.ts', 'subpaths.ts', 'grpc.ts', 'required.cts'] },
      bundler: { compilerOptions: { ...base, module: 'esnext', moduleResolution: 'bundler' }, files: ['readme.ts', 'subpaths.ts', 'grpc.ts'] },
      // node10 reads no "exports": the top-level "types" and "typesVersions" are what it finds.
      node10: { compilerOptions: { ...base, module: 'es2022', moduleResolution: 'node10', allowSyntheticDefaultImports: true }, files: ['readme.ts', 'subpaths.ts', 'grpc.ts'] },
    };
    // Side by side: each tsc is one thread, mostly parsing the same declarations.
    await Promise.all(
      Object.entries(configs).map(async ([name, config]) => {
        const file = path.join(project, `tsconfig.${name}.json`);
        await writeFile(file, JSON.stringify(config, null, 2));
        await run(tsc, ['-p', file], project).catch((err: Error) => {
          throw new Error(`moduleResolution ${name}: ${err.message}`, { cause: err });
        });
      }),
    );
    // The check can fail: a subpath the package does not export is an error under each resolution.
    await writeFile(path.join(project, 'wrong.ts'), `import { nothing } from 'hyphae/no-such-subpath';\nexport { nothing };\n`);
    await writeFile(path.join(project, 'tsconfig.wrong.json'), JSON.stringify({ compilerOptions: configs.node16!.compilerOptions, files: ['wrong.ts'] }));
    await assert.rejects(run(tsc, ['-p', path.join(project, 'tsconfig.wrong.json')], project), /TS2307/);
  });

  it("the public types import only packages a service installs (never etcd3's); hyphae/grpc's, grpc-js besides", async () => {
    const pkg = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      peerDependencies: Record<string, string>;
      peerDependenciesMeta: Record<string, { optional?: boolean }>;
    };
    const allowed = new Set([...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies).filter((name) => !pkg.peerDependenciesMeta[name]?.optional)]);
    const core = await packagesOfTypes(['index.d.ts', 'extend.d.ts', 'control-plane/index.d.ts'].map((f) => path.join(installed, 'build/src', f)));
    assert.ok(core.files > 20, `${core.files} declaration files reached`);
    assert.ok(core.packages.has('undici'), [...core.packages].join(', '));
    for (const name of core.packages) assert.ok(allowed.has(name), `the public types import ${name}, which a service install does not have`);
    // hyphae/grpc's types name grpc-js's (its optional peer, which a service using them installs), and nothing else more.
    const grpc = await packagesOfTypes([path.join(installed, 'build/src/grpc/index.d.ts')]);
    assert.ok(grpc.packages.has('@grpc/grpc-js'), [...grpc.packages].join(', '));
    for (const name of grpc.packages) assert.ok(allowed.has(name) || name === '@grpc/grpc-js', `hyphae/grpc's types import ${name}`);
  });

  it('exports hyphae/grpc with its types; without @grpc/grpc-js installed, loading it fails naming the package', async () => {
    const pkg = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    const entry = pkg.exports['./grpc'];
    assert.ok(entry, JSON.stringify(pkg.exports));
    for (const file of [entry.types, entry.default]) assert.ok(existsSync(path.join(installed, file)), file);
    assert.ok(!existsSync(path.join(project, 'node_modules/@grpc/grpc-js')));
    // What Node says, for import and for require(esm): the message names the package to install.
    await writeFile(
      path.join(project, 'grpc-missing.cjs'),
      `(async () => {
        const out = {};
        try { await import('hyphae/grpc'); out.import = 'loaded'; } catch (e) { out.import = e.code + ' ' + e.message; }
        try { require('hyphae/grpc'); out.require = 'loaded'; } catch (e) { out.require = e.code + ' ' + e.message; }
        process.stdout.write(JSON.stringify(out));
      })();`,
    );
    const { stdout } = await run(path.join(project, 'grpc-missing.cjs'), [], project);
    const out = JSON.parse(stdout) as { import: string; require: string };
    for (const how of ['import', 'require'] as const) assert.match(out[how], /^ERR_MODULE_NOT_FOUND Cannot find package '@grpc\/grpc-js' imported from /, `${how}: ${out[how]}`);
  });

  it('npx hyphae --help runs the installed command', async () => {
    const { stdout } = await run(npmCli('npx-cli.js'), ['--no-install', 'hyphae', '--help'], project);
    assert.match(stdout, /^Usage: hyphae <command> \[options\]/);
    assert.match(stdout, /control-plane\s+run the control plane/);
  });

  it('hyphae control-plane runs on the file store and serves the dashboard from the package', async () => {
    const dataDir = path.join(work, 'cp-data');
    const cp = startNode(path.join(installed, 'build/src/cli/main.js'), ['control-plane', '--insecure', '--port', '0', '--data-dir', dataDir], childEnv());
    try {
      const [, url] = (await cp.waitFor(/listening (http:\/\/[^\s]+:\d+)/, 60_000)) as RegExpMatchArray;
      const page = await fetch(`${url}/ui`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script src="\/ui\/vendor\/cytoscape\.min\.js"/);
      const lib = await fetch(`${url}/ui/vendor/cytoscape.min.js`);
      assert.equal(lib.status, 200);
      assert.match(lib.headers.get('content-type') ?? '', /text\/javascript/);
      assert.match((await lib.text()).slice(0, 200), /The Cytoscape Consortium/);
    } finally {
      await cp.kill();
    }
  });

  it('hyphae control-plane --store etcd without etcd3 names the npm install to run', async () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> };
    const cp = startNode(
      path.join(installed, 'build/src/cli/main.js'),
      ['control-plane', '--insecure', '--port', '0', '--data-dir', path.join(work, 'cp-etcd'), '--store', 'etcd', '--etcd-endpoints', 'http://127.0.0.1:1'],
      childEnv(),
    );
    const code = await cp.exited;
    assert.equal(code, 1, cp.lines.join('\n'));
    const output = cp.lines.join('\n');
    assert.ok(output.includes(`run \`npm install etcd3@${pkg.peerDependencies.etcd3}\``), output);
  });
});
