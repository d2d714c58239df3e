/**
 * `hyphae control-plane`'s flags, and their conversion into createControlPlane() options with every check
 * that spans several flags. Apart from the command (./commands/control-plane.ts), which parses them and
 * then starts, waits for a signal and shuts down: the flags are most of its length and change apart.
 */
import { readFileSync } from 'node:fs';
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from '../config/instance.js';
import {
  DEFAULT_HOST,
  eventLog,
  LOG_FORMATS,
  type LogFormat,
  MAX_HISTORY_STEP_MS,
  MIN_HISTORY_STEP_MS,
  MIN_LISTENER_TIMEOUT_MS,
  MAX_INSTANCE_QUOTA,
  MAX_STATS_STREAMS,
  MAX_WATCH_STREAMS,
  type ControlPlaneOptions,
} from '../control-plane/index.js';
import { parseTokenSpec } from '../control-plane/auth/configured-tokens.js';
import { checkPrivate } from '../core/private-file.js';
import { UsageError, type CommandOptions, type parseCommandArgs } from './command.js';
import { durationFlag, intFlag, numberFlag, stringFlag } from './flags.js';

export const CONTROL_PLANE_FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'log-format': { type: 'string' },
  'metrics-listen': { type: 'string' },
  'metrics-max-connections': { type: 'string' },
  'data-dir': { type: 'string' },
  ttl: { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'restart-hold': { type: 'string' },
  'body-limit': { type: 'string' },
  'max-connections': { type: 'string' },
  'tls-handshake-timeout': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'request-timeout': { type: 'string' },
  'send-timeout': { type: 'string' },
  'max-instances-per-token': { type: 'string' },
  'max-instances-per-service': { type: 'string' },
  'max-stats-streams-per-token': { type: 'string' },
  'max-stats-streams': { type: 'string' },
  'max-watch-streams-per-token': { type: 'string' },
  'stats-history-step': { type: 'string' },
  store: { type: 'string' },
  'etcd-endpoints': { type: 'string' },
  'etcd-prefix': { type: 'string' },
  'etcd-timeout-ms': { type: 'string' },
  'etcd-ca': { type: 'string' },
  'etcd-cert': { type: 'string' },
  'etcd-key': { type: 'string' },
  'etcd-username': { type: 'string' },
  'etcd-password-file': { type: 'string' },
  'ca-encryption-key-file': { type: 'string' },
  'trust-domain': { type: 'string' },
  cluster: { type: 'string' },
  'cert-ttl': { type: 'string' },
  'ca-cert': { type: 'string' },
  'ca-key': { type: 'string' },
  'admin-token-file': { type: 'string' },
  // Refused (below) with the replacement named, rather than "unknown option".
  'join-token': { type: 'string', multiple: true },
  'join-token-file': { type: 'string', multiple: true },
  'join-tokens-file': { type: 'string' },
  'new-ca': { type: 'boolean', default: false },
  'tls-name': { type: 'string', multiple: true },
  insecure: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} satisfies CommandOptions;

/** What parseCommandArgs makes of CONTROL_PLANE_FLAGS. */
export type ControlPlaneFlagValues = ReturnType<typeof parseCommandArgs<{ options: typeof CONTROL_PLANE_FLAGS; strict: true; allowPositionals: false }>>['values'];

export const DEFAULT_DATA_DIR = '.hyphae/control-plane';

/**
 * --store, the --etcd-* flags and the CA encryption key, checked together: an etcd flag without
 * --store etcd is a mistake worth saying. The key may come from HYPHAE_CA_ENCRYPTION_KEY instead of a
 * file (read only with --store etcd, so a variable set for the whole host does not trouble a file store).
 */
async function storeFlags(
  values: ControlPlaneFlagValues,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): Promise<Pick<ControlPlaneOptions, 'store' | 'etcd' | 'caEncryptionKeyFile' | 'caEncryptionKey'>> {
  const str = (name: 'store' | `etcd-${string}` | 'ca-encryption-key-file') => stringFlag(name, values[name as keyof ControlPlaneFlagValues] as string | undefined);
  const store = str('store') ?? 'file';
  if (store !== 'file' && store !== 'etcd') throw new UsageError(`--store must be file or etcd, got "${store}"`);
  const endpoints = str('etcd-endpoints');
  const prefix = str('etcd-prefix');
  const timeout = intFlag('etcd-timeout-ms', values['etcd-timeout-ms'] as string | undefined, 100, 60_000);
  const keyFile = str('ca-encryption-key-file');
  const tls = { caFile: str('etcd-ca'), certFile: str('etcd-cert'), keyFile: str('etcd-key') };
  const username = str('etcd-username');
  const passwordFile = str('etcd-password-file');
  if (store === 'file') {
    if ([endpoints, prefix, timeout, tls.caFile, tls.certFile, tls.keyFile, username, passwordFile].some((v) => v !== undefined)) throw new UsageError('--etcd-* flags need --store etcd');
    if (keyFile !== undefined) throw new UsageError('--ca-encryption-key-file is for --store etcd (the file store keeps the CA in --data-dir, 0600)');
    return { store };
  }
  if (endpoints === undefined) throw new UsageError('--store etcd needs --etcd-endpoints, e.g. --etcd-endpoints http://127.0.0.1:2379');
  const list = endpoints
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const inline = keyFile === undefined && env.HYPHAE_CA_ENCRYPTION_KEY ? env.HYPHAE_CA_ENCRYPTION_KEY : undefined;
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) throw new UsageError('give --etcd-cert and --etcd-key together');
  // A password in argv is visible to every user of the host (ps): only a file or the environment.
  let password: string | undefined;
  if (passwordFile !== undefined) password = await readSecretFile(passwordFile, '--etcd-password-file', warn);
  else if (username !== undefined && env.HYPHAE_ETCD_PASSWORD) password = env.HYPHAE_ETCD_PASSWORD;
  if (username === undefined && passwordFile !== undefined) throw new UsageError('--etcd-password-file needs --etcd-username');
  if (username !== undefined && password === undefined) throw new UsageError('--etcd-username needs its password in --etcd-password-file <file> or HYPHAE_ETCD_PASSWORD');
  return {
    store,
    etcd: {
      endpoints: list,
      ...(prefix !== undefined && { prefix }),
      ...(timeout !== undefined && { requestTimeoutMs: timeout }),
      ...(tls.caFile !== undefined && { caFile: tls.caFile }),
      ...(tls.certFile !== undefined && { certFile: tls.certFile, keyFile: tls.keyFile }),
      ...(username !== undefined && { username, password }),
    },
    ...(keyFile !== undefined && { caEncryptionKeyFile: keyFile }),
    ...(inline !== undefined && { caEncryptionKey: inline }),
  };
}

async function readSecretFile(file: string, flag: string, warn: (message: string) => void): Promise<string> {
  // Refused if another user could have written it, as every secret file of the control plane is.
  const { readableByOthers } = await checkPrivate(file, flag);
  if (readableByOthers) warn(`WARNING ${flag} ${file} can be read by other users; it is a secret: chmod 600 it`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') throw new UsageError(`${flag} ${file} is empty`);
  return secret;
}

/** HYPHAE_JOIN_TOKENS: `[<ns>/]<service>=<secret>` entries separated by white space (a secret holds none). */
function envJoinTokens(env: NodeJS.ProcessEnv): string[] {
  const specs = (env.HYPHAE_JOIN_TOKENS ?? '').split(/\s+/).filter((s) => s !== '');
  // Checked here so that the message names the variable, not the option it becomes.
  specs.forEach((spec, i) => {
    try {
      parseTokenSpec(spec, `HYPHAE_JOIN_TOKENS #${i + 1}`);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  });
  return specs;
}

/** The port the help suggests: the OpenTelemetry Prometheus exporter's default, which scrape setups already expect. */
export const DEFAULT_METRICS_PORT = 9464;

/** --metrics-listen <host:port | port | [ipv6]:port>: loopback unless a host is given. */
function parseMetricsListen(value: string | undefined, maxConnections: number | undefined): ControlPlaneOptions['metricsListen'] {
  if (value === undefined) {
    if (maxConnections !== undefined) throw new UsageError('--metrics-max-connections needs --metrics-listen');
    return undefined;
  }
  const v = value.trim();
  const bad = () => new UsageError(`--metrics-listen must be <host>:<port>, <port> or [<ipv6>]:<port> (e.g. ${DEFAULT_HOST}:${DEFAULT_METRICS_PORT}), got "${value.slice(0, 100)}"`);
  let host: string | undefined;
  let portText = v;
  const bracketed = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(v);
  if (bracketed) [, host, portText] = bracketed as unknown as [string, string, string];
  else if (v.includes(':')) {
    const i = v.indexOf(':');
    // One colon: host:port. An IPv6 address needs brackets, as in a URL.
    if (i === 0 || v.indexOf(':', i + 1) >= 0) throw bad();
    host = v.slice(0, i);
    portText = v.slice(i + 1);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw bad();
  const port = Number(portText);
  return { port, ...(host !== undefined && { host }), ...(maxConnections !== undefined && { maxConnections }) };
}

/** A warning before the control plane (and its log) exists: on stderr, as JSON too with --log-format json. */
function warnBeforeStart(format: LogFormat): (message: string) => void {
  if (format === 'json') return eventLog((line) => process.stderr.write(`${line}\n`), 'json');
  return (message) => process.stderr.write(`hyphae control-plane: ${message}\n`);
}

/** The parsed flags (and HYPHAE_JOIN_TOKENS, HYPHAE_CA_ENCRYPTION_KEY, HYPHAE_ETCD_PASSWORD from `env`) as createControlPlane() options, or the UsageError that says which flag is wrong. */
export async function controlPlaneOptions(values: ControlPlaneFlagValues, env: NodeJS.ProcessEnv) {
  if (values['join-token'] !== undefined) {
    // The secret itself is never echoed: it is already in this process's argv for every local user to read.
    throw new UsageError(
      '--join-token puts the secret on the command line, where every local user can read it (ps, /proc/<pid>/cmdline): ' +
        'write it to a file and give --join-token-file [<ns>/]<service>=<file>, list tokens in --join-tokens-file <file> ' +
        '(one [<ns>/]<service>=<secret> per line), or set HYPHAE_JOIN_TOKENS',
    );
  }
  const logFormat = stringFlag('log-format', values['log-format']) ?? 'text';
  if (!LOG_FORMATS.includes(logFormat as LogFormat)) throw new UsageError(`--log-format must be ${LOG_FORMATS.join(' or ')}, got "${logFormat.slice(0, 50)}"`);
  const options = {
    port: intFlag('port', values.port, 0, 65535),
    logFormat: logFormat as LogFormat,
    metricsListen: parseMetricsListen(stringFlag('metrics-listen', values['metrics-listen']), intFlag('metrics-max-connections', values['metrics-max-connections'], 1, 10_000)),
    host: stringFlag('host', values.host),
    dataDir: stringFlag('data-dir', values['data-dir']) ?? DEFAULT_DATA_DIR,
    defaultTtlSeconds: numberFlag('ttl', values.ttl, MIN_TTL_SECONDS, MAX_TTL_SECONDS),
    heartbeatMs: intFlag('heartbeat-ms', values['heartbeat-ms'], 10, 3_600_000),
    restartHoldMs: durationFlag('restart-hold', values['restart-hold'], 0, 3_600_000),
    bodyLimitBytes: intFlag('body-limit', values['body-limit'], 1024, 64 * 1024 * 1024),
    maxConnections: intFlag('max-connections', values['max-connections'], 1, 1_000_000),
    tlsHandshakeTimeoutMs: durationFlag('tls-handshake-timeout', values['tls-handshake-timeout'], MIN_LISTENER_TIMEOUT_MS, 600_000),
    headersTimeoutMs: durationFlag('headers-timeout', values['headers-timeout'], MIN_LISTENER_TIMEOUT_MS, 600_000),
    requestTimeoutMs: durationFlag('request-timeout', values['request-timeout'], MIN_LISTENER_TIMEOUT_MS, 3_600_000),
    sendTimeoutMs: durationFlag('send-timeout', values['send-timeout'], MIN_LISTENER_TIMEOUT_MS, 3_600_000),
    maxInstancesPerToken: intFlag('max-instances-per-token', values['max-instances-per-token'], 1, MAX_INSTANCE_QUOTA),
    maxInstancesPerService: intFlag('max-instances-per-service', values['max-instances-per-service'], 1, MAX_INSTANCE_QUOTA),
    maxStatsStreamsPerToken: intFlag('max-stats-streams-per-token', values['max-stats-streams-per-token'], 1, MAX_STATS_STREAMS),
    maxStatsStreams: intFlag('max-stats-streams', values['max-stats-streams'], 1, MAX_STATS_STREAMS),
    maxWatchStreamsPerToken: intFlag('max-watch-streams-per-token', values['max-watch-streams-per-token'], 1, MAX_WATCH_STREAMS),
    statsHistoryStepMs: durationFlag('stats-history-step', values['stats-history-step'], MIN_HISTORY_STEP_MS, MAX_HISTORY_STEP_MS),
    ...(await storeFlags(values, env, warnBeforeStart(logFormat as LogFormat))),
    insecure: values.insecure,
    trustDomain: stringFlag('trust-domain', values['trust-domain']),
    cluster: stringFlag('cluster', values.cluster),
    certTtlMs: durationFlag('cert-ttl', values['cert-ttl'], 1000, 365 * 24 * 3600 * 1000),
    caCertFile: stringFlag('ca-cert', values['ca-cert']),
    caKeyFile: stringFlag('ca-key', values['ca-key']),
    newCa: values['new-ca'],
    adminTokenFile: stringFlag('admin-token-file', values['admin-token-file']),
    joinTokens: envJoinTokens(env),
    joinTokensFile: stringFlag('join-tokens-file', values['join-tokens-file']),
    joinTokenFiles: values['join-token-file'] ?? [],
    tlsNames: values['tls-name'] ?? [],
  };
  if ((options.caCertFile === undefined) !== (options.caKeyFile === undefined)) throw new UsageError('give --ca-cert and --ca-key together');
  if (options.insecure && (options.caCertFile || options.adminTokenFile || options.joinTokenFiles.length > 0 || options.joinTokensFile || options.caEncryptionKeyFile || options.newCa)) {
    throw new UsageError('--insecure runs without a CA and tokens: drop --ca-cert, --new-ca, --admin-token-file, --join-token(s)-file and --ca-encryption-key-file, or --insecure');
  }
  // Like the CA encryption key, the variable may be set for the whole host; an insecure control plane has no tokens.
  if (options.insecure) options.joinTokens = [];
  if (options.newCa && options.store === 'etcd') throw new UsageError('--new-ca is for the file store: with --store etcd the first replica makes the CA when etcd holds none');
  // The variable may be set for the whole host; an insecure control plane has no CA to encrypt.
  if (options.insecure) delete options.caEncryptionKey;

  return options;
}
