/** `hyphae apply -f <file|dir|->`: create or update resources, all or nothing. */
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom } from '../api-client.js';
import { type Command, parseCommandArgs } from '../command.js';
import { intFlag } from '../flags.js';
import { sendDocuments, type PlannedResult } from './send-documents.js';

const usage = `Usage: hyphae apply -f <file|dir|-> [-f ...] [--dry-run] [--if-match <revision>]

Create or update the resources in the files: YAML or JSON, several documents
per file (separated by ---), directories read recursively (.yaml, .yml, .json,
in name order), - for standard input (hyphae get ... -o yaml | hyphae apply -f -).
Everything is applied in one step or nothing is: every problem is listed with
its file, document and field path, and the configuration in force stays.

The configuration revision is printed on stderr (also by --dry-run, hyphae diff
and hyphae status). Give it back with --if-match so that the apply happens only
if nobody changed the configuration since you looked: otherwise nothing is
applied and HYPHAE_ERR_CONFLICT names the current revision. Without --if-match
the last writer wins.

Options:
  -f, --filename <path>  a file, a directory, or - for standard input (repeatable)
  --dry-run              validate and show what would change, store nothing
  --if-match <revision>  apply only if the configuration is still at this revision
  -h, --help             show this help

${apiFlagsUsage}

Exit status: 0 applied (or valid, with --dry-run), 1 rejected or failed, 2 bad usage.
`;

export const applyCommand: Command = {
  name: 'apply',
  usage,
  async run(args) {
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        'dry-run': { type: 'boolean' },
        'if-match': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...apiFlags,
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const dryRun = values['dry-run'] === true;
    const ifMatch = intFlag('if-match', values['if-match'], 0, Number.MAX_SAFE_INTEGER);
    const client = new ApiClient(await connectionFrom(values));
    try {
      const outcome = await sendDocuments(client, values.filename, dryRun, ifMatch);
      if (!outcome.ok) return 1;
      for (const r of outcome.results) process.stdout.write(`${line(r)}${dryRun ? ' (dry run)' : ''}\n`);
      // stderr: stdout stays the list of results, for scripts.
      process.stderr.write(`configuration revision ${outcome.revision}${dryRun ? ' (dry run: apply with --if-match ' + String(outcome.revision) + ' to apply only onto it)' : ''}\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};

function line(r: PlannedResult): string {
  return `${r.kind} ${r.namespace}/${r.name} ${r.action}`;
}
