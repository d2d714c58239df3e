/**
 * What the commands that run a workload of the mesh (`hyphae proxy`,
 * `hyphae gateway`) share: the connection flags (apiFlags) turned into the
 * HYPHAE_* environment that optionsFromEnv reads, with the join token read
 * from its file, and a logger that writes info lines too (such a process runs
 * on its own, and its operator wants to see it register and drain).
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../core/logger.js';
import { UsageError } from './command.js';
import { stringFlag } from './flags.js';
import { DEFAULT_CONTROL_PLANE_URL } from './api-client.js';
import { parseHostPort, type HostPort } from '../proxy/options.js';

export interface WorkloadFlags {
  'control-plane'?: string | undefined;
  token?: string | undefined;
  'token-file'?: string | undefined;
  'ca-file'?: string | undefined;
  service?: string | undefined;
  namespace?: string | undefined;
}

/** The connection part of `hyphae proxy --help` and `hyphae gateway --help`; `whose`: whose join token it is. */
export function workloadConnectionUsage(whose: string, service: string): string {
  return `Control plane (flags or the environment of every hyphae process):
  --control-plane <url>     HYPHAE_CONTROL_PLANE (default ${DEFAULT_CONTROL_PLANE_URL})
  --token-file <file>       file holding the ${whose} join token (hyphae token create --service <${service}>);
                            or the token in HYPHAE_TOKEN. Never as a flag (--token is refused: ps shows argv)
  --ca-file <file>          the control plane's CA bundle (HYPHAE_CA_FILE)
`;
}

export function workloadEnv(values: WorkloadFlags): NodeJS.ProcessEnv {
  if (values.token !== undefined) {
    throw new UsageError('--token puts the join token on the command line, where every local user can read it (ps): give --token-file <file>, or HYPHAE_TOKEN');
  }
  const env = { ...process.env };
  if (values['control-plane'] !== undefined) env.HYPHAE_CONTROL_PLANE = stringFlag('control-plane', values['control-plane']);
  // The default the shared flags' help gives, as every other command has it (the library itself has none).
  else if (env.HYPHAE_CONTROL_PLANE === undefined || env.HYPHAE_CONTROL_PLANE === '') env.HYPHAE_CONTROL_PLANE = DEFAULT_CONTROL_PLANE_URL;
  if (values.service !== undefined) env.HYPHAE_SERVICE = stringFlag('service', values.service);
  if (values.namespace !== undefined) env.HYPHAE_NAMESPACE = stringFlag('namespace', values.namespace);
  if (values['ca-file'] !== undefined) env.HYPHAE_CA_FILE = stringFlag('ca-file', values['ca-file']);
  if (values['token-file'] !== undefined) {
    try {
      env.HYPHAE_TOKEN = readFileSync(values['token-file'], 'utf8').trim();
    } catch (err) {
      throw new UsageError(`cannot read --token-file ${values['token-file']}: ${(err as Error).message}`);
    }
  }
  return env;
}

export const stderrLogger: Logger = {
  debug: () => {},
  info: (msg, fields) => process.stderr.write(`${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`),
  warn: (msg, fields) => process.stderr.write(`WARNING ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`),
  error: (msg, fields) => process.stderr.write(`ERROR ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`),
};

/** Resolves with the first SIGTERM or SIGINT; a second one exits at once without waiting for the drain. */
export async function untilSignal(): Promise<NodeJS.Signals> {
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const again = () => process.exit(1);
  process.once('SIGTERM', again);
  process.once('SIGINT', again);
  return signal;
}

/** A `host:port` flag, refused as a usage error. */
export function hostPortFlag(name: string, value: string | undefined): HostPort | undefined {
  if (value === undefined) return undefined;
  try {
    return parseHostPort(value, `--${name}`);
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^proxy options: /, ''));
  }
}

/** `host:port`, an IPv6 host in brackets; `-` for none. */
export function showHostPort(a: HostPort | undefined): string {
  return a === undefined ? '-' : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
