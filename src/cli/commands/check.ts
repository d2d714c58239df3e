/** `hyphae check`: is the mesh in order? Each check a line with a verdict and, when it is not, a hint (as `linkerd check`). */
import { PACKAGE_VERSION } from '../../core/version.js';
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom } from '../api-client.js';
import { configChecks } from '../check/config-checks.js';
import { controlPlaneChecks } from '../check/control-plane-checks.js';
import { gatherFacts } from '../check/facts.js';
import { meshChecks } from '../check/mesh-checks.js';
import { exitCode, renderText, report } from '../check/result.js';
import { type Command, parseCommandArgs } from '../command.js';
import { outputFlags, outputFormat, outputUsage, printData } from '../output.js';

const usage = `Usage: hyphae check [-o json|yaml]

Check the mesh, one line per finding: √ passed, ‼ warning, × failed, with a
hint under anything that is not a pass.

  control plane   reachable and healthy; the same version as this CLI (a minor
                  or major apart is a warning); clock skew against its Date
                  header (‼ over 5 s, × over 60 s: certificates are backdated
                  60 s); the CA valid (‼ under 30 days left, × expired)
  data plane      instance certificates near expiry (‼ a quarter of their
                  lifetime left: renewal failing; × expired); services with no
                  instances (‼); instances not reporting stats (‼)
  configuration   routes sending to a service, or a subset, no running instance
                  serves (×); authorization policies that deny every request:
                  an ALLOW with no rules, a DENY with a rule matching all (×)

Reads need a token that may read: the admin token or a viewer token.

Options:
${outputUsage('every check with its verdict, for scripts', 'the same lines', true)}
  -h, --help             show this help

${apiFlagsUsage}

Exit status: 0 every check passed (warnings allowed), 1 a check failed, 2 bad usage.
`;

export const checkCommand: Command = {
  name: 'check',
  usage,
  async run(args) {
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { ...outputFlags(true), help: { type: 'boolean', short: 'h' }, ...apiFlags },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const format = outputFormat(values);
    const client = new ApiClient(await connectionFrom(values));
    try {
      const facts = await gatherFacts(client, PACKAGE_VERSION);
      const results = [...controlPlaneChecks(facts), ...meshChecks(facts), ...configChecks(facts)];
      if (!(await printData(format, report(results)))) process.stdout.write(renderText(results));
      return exitCode(results);
    } finally {
      await client.close();
    }
  },
};
