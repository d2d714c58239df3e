/** `hyphae control-plane`: run the control plane in the foreground until SIGTERM or SIGINT. */
import { readFileSync } from 'node:fs';
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from '../../config/instance.js';
import {
  createControlPlane,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HOST,
  DEFAULT_MAX_STATS_STREAMS,
  DEFAULT_MAX_STATS_STREAMS_PER_TOKEN,
  DEFAULT_ETCD_PREFIX,
  HISTORY_STEP_MS,
  MAX_HISTORY_STEP_MS,
  MIN_HISTORY_STEP_MS,
  DEFAULT_ETCD_REQUEST_TIMEOUT_MS,
  DEFAULT_PORT,
  DEFAULT_TRUST_DOMAIN,
  DEFAULT_METRICS_MAX_CONNECTIONS,
  ETCD3_INSTALL_COMMAND,
  eventLog,
  LOG_FORMATS,
  type LogFormat,
  MIN_LISTENER_TIMEOUT_MS,
  DEFAULT_MAX_INSTANCES_PER_SERVICE,
  DEFAULT_MAX_INSTANCES_PER_TOKEN,
  MAX_INSTANCE_QUOTA,
  MAX_STATS_STREAMS,
  type ControlPlaneOptions,
} from '../../control-plane/index.js';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS } from '../../core/listener-guard.js';
import { parseTokenSpec } from '../../control-plane/auth/configured-tokens.js';
import { checkPrivate } from '../../core/private-file.js';
import { UsageError, type Command, parseCommandArgs } from '../command.js';
import { durationFlag, intFlag, numberFlag, stringFlag } from '../flags.js';

const DEFAULT_DATA_DIR = '.hyphae/control-plane';

/**
 * --store, the --etcd-* flags and the CA encryption key, checked together: an etcd flag without
 * --store etcd is a mistake worth saying. The key may come from HYPHAE_CA_ENCRYPTION_KEY instead of a
 * file (read only with --store etcd, so a variable set for the whole host does not trouble a file store).
 */
async function storeFlags(
  values: Record<string, string | string[] | boolean | undefined>,
  env: NodeJS.ProcessEnv,
  warn: (message: string) => void,
): Promise<Pick<ControlPlaneOptions, 'store' | 'etcd' | 'caEncryptionKeyFile' | 'caEncryptionKey'>> {
  const str = (name: string) => stringFlag(name, values[name] as string | undefined);
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
const DEFAULT_METRICS_PORT = 9464;

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

const usage = `Usage: hyphae control-plane [options]

Run the hyphae control plane: service registry, configuration store,
watch API (HTTP/JSON under /v1) and certificate authority. Logs one line per
event on stdout; stops cleanly on SIGTERM or SIGINT.

Security is on by default: the API is served over HTTPS with a certificate
from the control plane's own CA, and every call but /v1/health and
/v1/trust-bundle needs a token. The first start makes the CA (ca.json, 0600),
the admin token (admin-token, 0600) and the trust bundle (ca-bundle.pem) in
the data directory. With --store etcd the CA (its keys encrypted with
--ca-encryption-key-file) and the tokens (digests) live in etcd, shared by
every replica; give every replica the same key file and --admin-token-file.

Options:
  --port <port>          TCP port, 0 for any free one (default ${DEFAULT_PORT})
  --host <address>       address to listen on (default ${DEFAULT_HOST})
  --data-dir <dir>       where configuration is stored (default ${DEFAULT_DATA_DIR})
  --ttl <seconds>        default lease TTL, ${MIN_TTL_SECONDS}-${MAX_TTL_SECONDS} (default 10)
  --heartbeat-ms <ms>    interval of keep-alive pings on watch streams (default ${DEFAULT_HEARTBEAT_MS})
  --restart-hold <duration>  after a restart (file store), hold empty snapshots of services that had
                         instances this long while they register again (default: --ttl; 0: off)
  --body-limit <bytes>   largest request body accepted (default ${DEFAULT_BODY_LIMIT_BYTES})
  --max-connections <n>  connections open at once; more are closed at accept, with one log line
                         when reached and one when cleared (default ${DEFAULT_MAX_CONNECTIONS}, lowered below
                         the open-file limit: ulimit -n minus max(64, 10 %))
  --tls-handshake-timeout <duration>  close a connection whose TLS handshake is not done this
                         long after accept (default ${DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS / 1000}s)
  --headers-timeout <duration>  answer 408 and close when a request's headers are not all in
                         this long after its first byte (default ${DEFAULT_HEADERS_TIMEOUT_MS / 1000}s); a connection's
                         first request counts from accept (TLS: the handshake's end), so a
                         peer that sends nothing is closed too
  --request-timeout <duration>  the same for the whole request, body included (default ${DEFAULT_REQUEST_TIMEOUT_MS / 1000}s)
  --max-instances-per-token <n>  live instances one join token may register; past it 429
                         HYPHAE_ERR_QUOTA_EXCEEDED (default ${DEFAULT_MAX_INSTANCES_PER_TOKEN}; the admin token is not counted)
  --max-instances-per-service <n>  live instances one service may have, whoever registers
                         them (default ${DEFAULT_MAX_INSTANCES_PER_SERVICE})
  --max-stats-streams-per-token <n>  live stats streams (the dashboard's) one token may hold
                         open; the admin token counts as one (default ${DEFAULT_MAX_STATS_STREAMS_PER_TOKEN})
  --max-stats-streams <n>  live stats streams open in all (default ${DEFAULT_MAX_STATS_STREAMS})
  --stats-history-step <duration>  one point of the dashboard's charts per step; 60 points are kept
                         (default ${HISTORY_STEP_MS / 1000}s: 15 minutes)
  --store <file|etcd>    where configuration and the registry live (default file):
                         file: resources in --data-dir, instances in memory (one node);
                         etcd: both in etcd, shared by every replica on the same cluster
                         (needs the etcd client: ${ETCD3_INSTALL_COMMAND})
  --etcd-endpoints <urls>  etcd client URLs, comma-separated (http://127.0.0.1:2379,...)
  --etcd-prefix <prefix>   key prefix of this mesh in etcd (default ${DEFAULT_ETCD_PREFIX})
  --etcd-timeout-ms <ms>   deadline of each etcd call (default ${DEFAULT_ETCD_REQUEST_TIMEOUT_MS})
  --etcd-ca <file>         CA certificate (PEM) that signed etcd's server certificates (https:// endpoints)
  --etcd-cert <file>       client certificate for etcd's --client-cert-auth, with --etcd-key
  --etcd-key <file>        its private key (PEM)
  --etcd-username <user>   etcd user (etcd auth enabled); its password from --etcd-password-file
  --etcd-password-file <file>  or HYPHAE_ETCD_PASSWORD (never a flag: argv is visible in ps)
  --ca-encryption-key-file <file>  with --store etcd: the keys that encrypt the CA's private keys
                         in etcd, one per line (openssl rand -base64 32); the first encrypts,
                         all decrypt. Every replica needs the same file. Or HYPHAE_CA_ENCRYPTION_KEY

Observability:
  GET /metrics on the API serves the control plane's own metrics (Prometheus text format) to a viewer
  or admin token: the recommended setup for a Prometheus on another host (HTTPS, tls_config.ca_file,
  authorization.credentials_file holding a viewer token; see docs/usage.md).
  --metrics-listen <[host:]port>  also serve GET /metrics on a second, plain-HTTP listener with no
                         token (Prometheus's usual local scrape), bound to ${DEFAULT_HOST} unless a host
                         is given (e.g. ${DEFAULT_HOST}:${DEFAULT_METRICS_PORT}; IPv6 as [::1]:${DEFAULT_METRICS_PORT})
  --metrics-max-connections <n>  connections the metrics listener keeps open at once (default ${DEFAULT_METRICS_MAX_CONNECTIONS})
  --log-format <text|json>  text (default): a timestamp and a message per line; json: one object
                         per line with time, level, msg, component and the event's fields

Security:
  --trust-domain <td>    SPIFFE trust domain of workload identities (default ${DEFAULT_TRUST_DOMAIN})
  --cert-ttl <duration>  lifetime of workload certificates, 1s to 365d (default 24h)
  --ca-cert <file>       the operator's CA certificate (PEM); an intermediate is followed by
                         its chain up to the root. With --ca-key. Default: a self-signed root
  --ca-key <file>        the private key of --ca-cert (PEM, RSA)
  --new-ca               the data directory lost its CA (ca.json is missing, ca-bundle.pem or tokens.json
                         are there): make a new root anyway. Every workload then needs the new bundle.
                         Without it such a start is refused; a first start (no such files) needs no flag
  --admin-token-file <file>  read the admin token (>= 32 chars) from this file instead of the data directory
  --join-token-file [<ns>/]<service>=<file>  a pre-provisioned join token: the file holds its secret
                         (>= 32 chars; repeatable)
  --join-tokens-file <file>  join tokens, one [<ns>/]<service>=<secret> per line
                         Also HYPHAE_JOIN_TOKENS: [<ns>/]<service>=<secret> entries separated by spaces
                         or newlines. Never a secret as a flag: argv is visible to every local user (ps)
  The data directory and every secret file must be owned by this user (or root) and not writable by
  group or others, or the start is refused.
  --tls-name <name>      another host name or address for the API's certificate (repeatable)
  --insecure             plain HTTP, no CA, no tokens, no mTLS (a warning is logged): local experiments only
  -h, --help             show this help
`;

export const controlPlaneCommand: Command = {
  name: 'control-plane',
  summary: 'run the control plane (registry, configuration, watch API)',
  usage,
  async run(args) {
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
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
        'max-instances-per-token': { type: 'string' },
        'max-instances-per-service': { type: 'string' },
        'max-stats-streams-per-token': { type: 'string' },
        'max-stats-streams': { type: 'string' },
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
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
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
      maxInstancesPerToken: intFlag('max-instances-per-token', values['max-instances-per-token'], 1, MAX_INSTANCE_QUOTA),
      maxInstancesPerService: intFlag('max-instances-per-service', values['max-instances-per-service'], 1, MAX_INSTANCE_QUOTA),
      maxStatsStreamsPerToken: intFlag('max-stats-streams-per-token', values['max-stats-streams-per-token'], 1, MAX_STATS_STREAMS),
      maxStatsStreams: intFlag('max-stats-streams', values['max-stats-streams'], 1, MAX_STATS_STREAMS),
      statsHistoryStepMs: durationFlag('stats-history-step', values['stats-history-step'], MIN_HISTORY_STEP_MS, MAX_HISTORY_STEP_MS),
      ...(await storeFlags(values, process.env, warnBeforeStart(logFormat as LogFormat))),
      insecure: values.insecure,
      trustDomain: stringFlag('trust-domain', values['trust-domain']),
      certTtlMs: durationFlag('cert-ttl', values['cert-ttl'], 1000, 365 * 24 * 3600 * 1000),
      caCertFile: stringFlag('ca-cert', values['ca-cert']),
      caKeyFile: stringFlag('ca-key', values['ca-key']),
      newCa: values['new-ca'],
      adminTokenFile: stringFlag('admin-token-file', values['admin-token-file']),
      joinTokens: envJoinTokens(process.env),
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

    // A reader that goes away (`| head`) must not kill the control plane with EPIPE.
    process.stdout.on('error', () => {});
    const sink = (line: string) => process.stdout.write(`${line}\n`);
    const controlPlane = await createControlPlane({ ...options, log: sink });

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    // A second signal while closing means "now".
    const force = () => process.exit(1);
    process.once('SIGTERM', force);
    process.once('SIGINT', force);
    // Through the same formatter as the control plane's own lines, so a JSON log stays JSON to its last line.
    eventLog(sink, options.logFormat)(`shutting down (${signal})`, { signal });
    await controlPlane.close();
    return 0;
  },
};
