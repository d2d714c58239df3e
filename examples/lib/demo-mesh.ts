/**
 * What every demo starts with (`npm run demo` and `npm run demo -- <name>`): a
 * control plane as a child process with a fresh data directory, join tokens
 * made by the real `hyphae` CLI with the admin token, services started with the
 * library as child processes, `hyphae apply` of the demo's YAML, and one
 * teardown for all of it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildDir, cliPath, repoRoot, startNode, type Child } from './child.js';

const exec = promisify(execFile);

export interface ExampleInstance {
  service: string;
  /** The registered instance, address:port. */
  id: string;
  child: Child;
}

export interface DemoMesh {
  controlPlane: string;
  /** The trust bundle the control plane wrote on first start. */
  caFile: string;
  adminTokenFile: string;
  dataDir: string;
  /** Every child started so far (the control plane first), stopped by stop() in reverse order. */
  children: Child[];
  /** HYPHAE_* variables every service of the demo gets besides its token. */
  env: Record<string, string>;
  /** A join token for a service, made by `hyphae token create --service` as an operator would. */
  tokenFor(service: string): Promise<string>;
  /** A read-only token (dashboard, `hyphae top`): it cannot register nor obtain a certificate. */
  viewerToken(): Promise<string>;
  /** `hyphae <args>` with the control plane, the CA and the admin token; resolves with its stdout. */
  cli(args: string[]): Promise<string>;
  /** `hyphae apply -f <file or directory>`, the path relative to the repository root. */
  apply(file: string): Promise<string>;
  /** A node script of build/ as a child with the demo's environment; resolves when it prints `ready`. */
  startService(script: string, env: Record<string, string>): Promise<{ child: Child; ready: RegExpMatchArray }>;
  /**
   * An instance of examples/telemetry/service.js registered as `service` with its join token (made once per
   * service): `env` sets VERSION, HYPHAE_LABELS, CALLS... (see that file).
   */
  startExampleService(service: string, env?: Record<string, string>): Promise<ExampleInstance>;
  stop(): Promise<void>;
}

/**
 * `ttlSeconds`: the lease of every instance, short so that one that dies without deregistering leaves the
 * registry (and the dashboard) within seconds. `args`: more `hyphae control-plane` flags (a cluster's name
 * and CA for the multi-cluster demos).
 */
export async function startDemoMesh({ ttlSeconds = 3, args = [] as string[] } = {}): Promise<DemoMesh> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'hyphae-demo-'));
  const children: Child[] = [];
  const stop = async () => {
    await Promise.all(children.reverse().map((c) => c.kill('SIGTERM')));
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const cp = startNode(cliPath, ['control-plane', '--port', '0', '--data-dir', dataDir, '--ttl', String(ttlSeconds), ...args]);
    children.push(cp);
    const controlPlane = (await cp.waitFor(/listening (https:\/\/\S+)/))[1]!;
    // The control plane made its CA, its admin token and the trust bundle in the data directory on first start.
    const caFile = path.join(dataDir, 'ca-bundle.pem');
    // Tokens reach the CLI in files, never on its command line (which every local user can read).
    const adminTokenFile = path.join(dataDir, 'admin-token');
    const connection = ['--control-plane', controlPlane, '--token-file', adminTokenFile, '--ca-file', caFile];
    const cli = async (args: string[]) => (await exec(process.execPath, [cliPath, ...args, ...connection])).stdout;
    const tokens = new Map<string, Promise<string>>();
    const tokenFor = (service: string) => {
      let token = tokens.get(service);
      if (!token) tokens.set(service, (token = cli(['token', 'create', '--service', service]).then((out) => out.trim())));
      return token;
    };
    const env = { HYPHAE_CONTROL_PLANE: controlPlane, HYPHAE_CA_FILE: caFile, HYPHAE_DRAIN_DELAY_MS: '300', HYPHAE_TTL_SECONDS: String(ttlSeconds) };
    const startService = async (script: string, more: Record<string, string>) => {
      const child = startNode(path.join(buildDir, script), [], { ...env, ...more });
      children.push(child);
      return { child, ready: await child.waitFor(/^ready service=\S+.*$/) };
    };
    return {
      controlPlane,
      caFile,
      adminTokenFile,
      dataDir,
      children,
      env,
      tokenFor,
      viewerToken: async () => (await cli(['token', 'create', '--viewer'])).trim(),
      cli,
      apply: (file) => cli(['apply', '-f', path.join(repoRoot, file)]),
      startService,
      async startExampleService(service, more = {}) {
        const { child, ready } = await startService('examples/telemetry/service.js', { HYPHAE_SERVICE: service, HYPHAE_TOKEN: await tokenFor(service), ...more });
        const id = /instance=(\S+)/.exec(ready[0])?.[1];
        if (!id) throw new Error(`${service} did not register: ${ready[0]}`);
        return { service, id, child };
      },
      stop,
    };
  } catch (err) {
    await reportFailure(err, children);
    await stop();
    throw err;
  }
}

/** Prints the error and the last lines of every child, which is where the cause usually is. */
export async function reportFailure(err: unknown, children: Child[]): Promise<void> {
  console.error('demo failed:', err);
  for (const c of children) if (c.lines.length) console.error(`--- ${c.proc.spawnargs.slice(1).join(' ')}\n${c.lines.slice(-20).join('\n')}`);
}

/** A viewer token in a file of the data directory, for `--token-file` in the commands a demo prints. */
export async function writeViewerTokenFile(mesh: DemoMesh, token: string): Promise<string> {
  const file = path.join(mesh.dataDir, 'viewer-token');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  return file;
}
