/** `hyphae diff -f <file|dir>`: what apply would change, as a unified diff of the stored and the new resources. */
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom } from '../api-client.js';
import { type Command, parseCommandArgs } from '../command.js';
import { toYaml } from '../output.js';
import { unifiedDiff } from '../text-diff.js';
import { sendDocuments } from './send-documents.js';

const usage = `Usage: hyphae diff -f <file|dir|-> [-f ...]

Show what "hyphae apply" would change, as a unified diff between the stored
resources and the ones in the files, both as the control plane normalises
them (defaults filled in, durations in ms). The files are validated like an
apply (a server-side dry run, so it needs the admin token too); nothing is
stored.

Options:
  -f, --filename <path>  a file, a directory, or - for standard input (repeatable)
  -h, --help             show this help

${apiFlagsUsage}

Exit status (kubectl's and diff's): 0 no differences, 1 differences, 2 the files
are invalid or rejected, the control plane cannot be reached, or bad usage.
`;

export const diffCommand: Command = {
  name: 'diff',
  usage,
  failureExitCode: 2,
  async run(args) {
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { filename: { type: 'string', short: 'f', multiple: true }, help: { type: 'boolean', short: 'h' }, ...apiFlags },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const client = new ApiClient(await connectionFrom(values));
    try {
      const outcome = await sendDocuments(client, values.filename, true);
      if (!outcome.ok) return 2;
      let changed = 0;
      for (const r of outcome.results) {
        if (r.action === 'unchanged') continue;
        changed++;
        const id = `${r.kind}/${r.namespace}/${r.name}`;
        const before = r.before ? await toYaml(r.before) : '';
        process.stdout.write(unifiedDiff(before, await toYaml(r.after), r.before ? `stored/${id}` : '/dev/null', `new/${id}`));
      }
      const unchanged = outcome.results.length - changed;
      // The summary goes to stderr, so that stdout is a diff a tool can read.
      process.stderr.write(
        `${changed === 0 ? 'no changes' : `${changed} to change`}${unchanged > 0 ? `, ${unchanged} unchanged` : ''} ` +
          `against configuration revision ${outcome.revision} (hyphae apply --if-match ${outcome.revision} applies only onto it)\n`,
      );
      return changed === 0 ? 0 : 1;
    } finally {
      await client.close();
    }
  },
};
