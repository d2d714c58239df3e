/** `hyphae apply -f <file|dir>`: create or update resources, all or nothing. */
import { parseArgs } from 'node:util';
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom } from '../api-client.js';
import { asUsageError, type Command } from '../command.js';
import { sendDocuments, type PlannedResult } from './send-documents.js';

const usage = `Usage: hyphae apply -f <file|dir> [-f ...] [--dry-run]

Create or update the resources in the files: YAML or JSON, several documents
per file (separated by ---), directories read recursively (.yaml, .yml, .json).
Everything is applied in one step or nothing is: every problem is listed with
its file, document and field path, and the configuration in force stays.

Options:
  -f, --filename <path>  a file or directory (repeatable)
  --dry-run              validate and show what would change, store nothing
  -h, --help             show this help

${apiFlagsUsage}

Exit status: 0 applied (or valid, with --dry-run), 1 rejected or failed, 2 bad usage.
`;

export const applyCommand: Command = {
  name: 'apply',
  summary: 'create or update resources from YAML or JSON files',
  usage,
  async run(args) {
    let values;
    try {
      ({ values } = parseArgs({
        args,
        strict: true,
        allowPositionals: false,
        options: { filename: { type: 'string', short: 'f', multiple: true }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, ...apiFlags },
      }));
    } catch (err) {
      throw asUsageError(err);
    }
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const dryRun = values['dry-run'] === true;
    const client = new ApiClient(connectionFrom(values));
    try {
      const outcome = await sendDocuments(client, values.filename, dryRun);
      if (!outcome.ok) return 1;
      for (const r of outcome.results) process.stdout.write(`${line(r)}${dryRun ? ' (dry run)' : ''}\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};

function line(r: PlannedResult): string {
  return `${r.kind} ${r.namespace}/${r.name} ${r.action}`;
}
