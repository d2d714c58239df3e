/** `hyphae version`: this CLI's version and the control plane's, with a warning when they are too far apart. */
import { PACKAGE_VERSION } from '../../core/version.js';
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom, describeApiError } from '../api-client.js';
import { type Command, parseCommandArgs } from '../command.js';
import { outputFlags, outputFormat, outputUsage, printData } from '../output.js';
import { skewWarning } from '../version-skew.js';

const usage = `Usage: hyphae version [--client] [-o json|yaml|wide]

Print the version of this CLI and of the control plane (from GET /v1/health).
A minor or major version apart is a warning on stderr: the two may not agree
about the API. The control plane's version needs no token.

Options:
  --client               this CLI's version only; the control plane is not asked
${outputUsage('{clientVersion, serverVersion?, controlPlane?, warning?}', 'the same lines')}
  -h, --help             show this help

${apiFlagsUsage}

Exit status: 0 printed (a skew is a warning, not a failure), 1 the control plane
could not be asked (the client's version is printed first), 2 bad usage.
`;

export const versionCommand: Command = {
  name: 'version',
  usage,
  async run(args) {
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { client: { type: 'boolean' }, ...outputFlags(), help: { type: 'boolean', short: 'h' }, ...apiFlags },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const format = outputFormat(values);
    const print = async (v: { clientVersion: string; serverVersion?: string; controlPlane?: string; warning?: string }) => {
      if (!(await printData(format, v))) {
        process.stdout.write(`Client Version: ${v.clientVersion}\n`);
        if (v.serverVersion !== undefined) process.stdout.write(`Control Plane Version: ${v.serverVersion} (${v.controlPlane})\n`);
      }
    };
    if (values.client) {
      await print({ clientVersion: PACKAGE_VERSION });
      return 0;
    }
    const client = new ApiClient(await connectionFrom(values));
    try {
      let res;
      try {
        res = await client.call<{ version?: string }>('GET', '/v1/health');
      } catch (err) {
        // kubectl's habit: what is known locally is still printed, then why the rest is missing.
        if (format === 'table' || format === 'wide') await print({ clientVersion: PACKAGE_VERSION });
        throw err;
      }
      if (res.status !== 200 && res.status !== 503) {
        if (format === 'table' || format === 'wide') await print({ clientVersion: PACKAGE_VERSION });
        throw new Error(describeApiError(res.status, res.body));
      }
      const serverVersion = (res.body as { version?: unknown }).version;
      const server = typeof serverVersion === 'string' ? serverVersion : undefined;
      const warning = skewWarning(PACKAGE_VERSION, server);
      await print({ clientVersion: PACKAGE_VERSION, serverVersion: server ?? 'unknown', controlPlane: client.conn.url, ...(warning && { warning }) });
      if (warning) process.stderr.write(`WARNING: ${warning}\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};
