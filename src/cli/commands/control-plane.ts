/** `hyphae control-plane`: run the control plane in the foreground until SIGTERM or SIGINT. */
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from '../../config/instance.js';
import { DEFAULT_CLUSTER } from '../../config/names.js';
import {
  createControlPlane,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HOST,
  DEFAULT_MAX_STATS_STREAMS,
  DEFAULT_MAX_STATS_STREAMS_PER_TOKEN,
  DEFAULT_MAX_WATCH_STREAMS_PER_TOKEN,
  DEFAULT_ETCD_PREFIX,
  HISTORY_STEP_MS,
  DEFAULT_ETCD_REQUEST_TIMEOUT_MS,
  DEFAULT_PORT,
  DEFAULT_TRUST_DOMAIN,
  DEFAULT_METRICS_MAX_CONNECTIONS,
  ETCD3_INSTALL_COMMAND,
  eventLog,
  DEFAULT_MAX_INSTANCES_PER_SERVICE,
  DEFAULT_MAX_INSTANCES_PER_TOKEN,
} from '../../control-plane/index.js';
import { DEFAULT_HEADERS_TIMEOUT_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS } from '../../core/listener-guard.js';
import { DEFAULT_SEND_TIMEOUT_MS } from '../../core/send-stall.js';
import { type Command, parseCommandArgs } from '../command.js';
import { CONTROL_PLANE_FLAGS, controlPlaneOptions, DEFAULT_DATA_DIR, DEFAULT_METRICS_PORT } from '../control-plane-options.js';

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
  --send-timeout <duration>  close a connection whose peer takes none of the answer bytes
                         waiting for it this long (a watch stream's too; default ${DEFAULT_SEND_TIMEOUT_MS / 1000}s)
  --max-instances-per-token <n>  live instances one join token may register; past it 429
                         HYPHAE_ERR_QUOTA_EXCEEDED (default ${DEFAULT_MAX_INSTANCES_PER_TOKEN}; the admin token is not counted)
  --max-instances-per-service <n>  live instances one service may have, whoever registers
                         them (default ${DEFAULT_MAX_INSTANCES_PER_SERVICE})
  --max-stats-streams-per-token <n>  live stats streams (the dashboard's) one token may hold
                         open; the admin token counts as one (default ${DEFAULT_MAX_STATS_STREAMS_PER_TOKEN})
  --max-stats-streams <n>  live stats streams open in all (default ${DEFAULT_MAX_STATS_STREAMS})
  --max-watch-streams-per-token <n>  live watch streams one join or viewer token may hold open;
                         past it 429 HYPHAE_ERR_TOO_MANY_STREAMS (default ${DEFAULT_MAX_WATCH_STREAMS_PER_TOKEN})
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
  --cluster <name>       this control plane's cluster, a DNS label (default ${DEFAULT_CLUSTER}); replicas share it
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
  usage,
  async run(args) {
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: CONTROL_PLANE_FLAGS,
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const options = await controlPlaneOptions(values, process.env);

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
