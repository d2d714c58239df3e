/** `hyphae control-plane`: run the control plane in the foreground until SIGTERM or SIGINT. */
import { parseArgs } from 'node:util';
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from '../../config/instance.js';
import { createControlPlane, DEFAULT_BODY_LIMIT_BYTES, DEFAULT_HEARTBEAT_MS, DEFAULT_HOST, DEFAULT_PORT } from '../../control-plane/index.js';
import { asUsageError, type Command } from '../command.js';
import { intFlag, numberFlag, stringFlag } from '../flags.js';

const DEFAULT_DATA_DIR = '.hyphae/control-plane';

const usage = `Usage: hyphae control-plane [options]

Run the hyphae control plane: service registry, configuration store and
watch API (HTTP/JSON under /v1). Logs one line per event on stdout; stops
cleanly on SIGTERM or SIGINT.

Options:
  --port <port>          TCP port, 0 for any free one (default ${DEFAULT_PORT})
  --host <address>       address to listen on (default ${DEFAULT_HOST})
  --data-dir <dir>       where configuration is stored (default ${DEFAULT_DATA_DIR})
  --ttl <seconds>        default lease TTL, ${MIN_TTL_SECONDS}-${MAX_TTL_SECONDS} (default 10)
  --heartbeat-ms <ms>    interval of keep-alive pings on watch streams (default ${DEFAULT_HEARTBEAT_MS})
  --body-limit <bytes>   largest request body accepted (default ${DEFAULT_BODY_LIMIT_BYTES})
  -h, --help             show this help
`;

export const controlPlaneCommand: Command = {
  name: 'control-plane',
  summary: 'run the control plane (registry, configuration, watch API)',
  usage,
  async run(args) {
    let values;
    try {
      ({ values } = parseArgs({
        args,
        strict: true,
        allowPositionals: false,
        options: {
          port: { type: 'string' },
          host: { type: 'string' },
          'data-dir': { type: 'string' },
          ttl: { type: 'string' },
          'heartbeat-ms': { type: 'string' },
          'body-limit': { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
      }));
    } catch (err) {
      throw asUsageError(err);
    }
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const options = {
      port: intFlag('port', values.port, 0, 65535),
      host: stringFlag('host', values.host),
      dataDir: stringFlag('data-dir', values['data-dir']) ?? DEFAULT_DATA_DIR,
      defaultTtlSeconds: numberFlag('ttl', values.ttl, MIN_TTL_SECONDS, MAX_TTL_SECONDS),
      heartbeatMs: intFlag('heartbeat-ms', values['heartbeat-ms'], 10, 3_600_000),
      bodyLimitBytes: intFlag('body-limit', values['body-limit'], 1024, 64 * 1024 * 1024),
    };

    // A reader that goes away (`| head`) must not kill the control plane with EPIPE.
    process.stdout.on('error', () => {});
    const controlPlane = await createControlPlane({ ...options, log: (line) => process.stdout.write(`${line}\n`) });

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    // A second signal while closing means "now".
    const force = () => process.exit(1);
    process.once('SIGTERM', force);
    process.once('SIGINT', force);
    process.stdout.write(`${new Date().toISOString()} shutting down (${signal})\n`);
    await controlPlane.close();
    return 0;
  },
};
