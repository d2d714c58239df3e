/**
 * Workloads in another language for `hyphae proxy` tests: Python's
 * http.server behind the proxy (test/fixtures/python/echo_app.py), a urllib
 * client in front of it (proxy_client.py), and the proxy itself started by
 * the CLI, as an operator would.
 */
import path from 'node:path';
import type { RunningControlPlane } from './control-plane.js';
import { cliPath, repoRoot, startCommand, startNode, type Child } from './process.js';

const fixtures = path.join(repoRoot, 'test/fixtures/python');

export interface PythonApp {
  child: Child;
  port: number;
}

/** The echo app on 127.0.0.1:`port` (0: any free port). */
export async function startPythonApp(port = 0, name = 'legacy'): Promise<PythonApp> {
  const child = startCommand('python3', ['-u', path.join(fixtures, 'echo_app.py'), '--port', String(port), '--name', name], {}, 'echo_app.py');
  const m = await child.waitFor(/^listening (\d+)$/, 30_000);
  return { child, port: Number(m[1]) };
}

export interface EchoAnswer {
  service: string;
  method: string;
  path: string;
  /** Lower-case names, every value of a repeated one. */
  headers: Record<string, string[]>;
  body: string;
}

export interface ClientResult {
  i: number;
  status: number;
  ms: number;
  body: string;
}

/** The urllib client: GET `url` `count` times through HTTP_PROXY=`proxy`; `onResult` sees each answer as it comes. */
export function startPythonClient(proxy: string, url: string, count: number, intervalMs: number, headers: Record<string, string> = {}): Child {
  const args = ['-u', path.join(fixtures, 'proxy_client.py'), url, String(count), String(intervalMs), ...Object.entries(headers).map(([k, v]) => `${k}=${v}`)];
  return startCommand('python3', args, { HTTP_PROXY: proxy, http_proxy: proxy, NO_PROXY: '', no_proxy: '' }, 'proxy_client.py');
}

/** The results a client printed so far. */
export function clientResults(child: Child): ClientResult[] {
  return child.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ClientResult);
}

export interface CliProxy {
  child: Child;
  inbound: { host: string; port: number } | undefined;
  outbound: { host: string; port: number } | undefined;
}

function hostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(.*):(\d+)$/.exec(s);
  return m ? { host: m[1]!, port: Number(m[2]) } : undefined;
}

/** `hyphae proxy --service <service> --upstream 127.0.0.1:<upstreamPort> ...args` as a child process, with the service's join token. */
export async function startCliProxy(cp: RunningControlPlane, service: string, upstreamPort: number, args: string[] = [], env: Record<string, string> = {}): Promise<CliProxy> {
  const child = startNode(cliPath, ['proxy', '--service', service, '--upstream', `127.0.0.1:${upstreamPort}`, ...args], {
    ...(await cp.env(service)),
    HYPHAE_DRAIN_DELAY_MS: '200',
    ...env,
  });
  const m = await child.waitFor(/hyphae proxy: ready .*inbound=(\S+) outbound=(\S+)/, 60_000);
  return { child, inbound: hostPort(m[1]!), outbound: hostPort(m[2]!) };
}
