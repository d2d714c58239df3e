/** `hyphae delete <kind> <name>` or `hyphae delete -f <file|dir>`: remove resources. */
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom, describeApiError } from '../api-client.js';
import { UsageError, type Command, parseCommandArgs } from '../command.js';
import { DocumentError, readDocuments } from '../documents.js';
import { intFlag } from '../flags.js';
import { parseKind } from '../kinds.js';
import { conflictRevision } from './send-documents.js';

const usage = `Usage: hyphae delete <kind> <name> [-n namespace] [--dry-run] [--if-match <revision>]
       hyphae delete -f <file|dir|-> [-f ...] [--dry-run] [--if-match <revision>]

Remove resources: one named on the command line, or every resource in the
files (identified by kind, namespace and name; the rest of each document is
ignored). Kinds: route, service, authorizationpolicy, peerauthentication,
gateway (singular or plural, any case). A Service whose subsets a Route still
uses, or a Gateway that Routes still attach to, is not deleted; the routes
must change first (from files, Routes are deleted first).

Options:
  -n, --namespace <ns>   namespace of the named resource (default "default")
  -f, --filename <path>  a file, a directory, or - for standard input (repeatable)
  --dry-run              check, delete nothing
  --if-match <revision>  delete only if the configuration is still at this revision
                         (several deletes: each at the revision the previous one made;
                         the first conflict stops, with HYPHAE_ERR_CONFLICT)
  -h, --help             show this help

${apiFlagsUsage}

Exit status: 0 all deleted, 1 any not found, refused or failed, 2 bad usage.
`;

interface Target {
  kind: string;
  namespace: string;
  name: string;
  where?: string;
}

export const deleteCommand: Command = {
  name: 'delete',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        namespace: { type: 'string', short: 'n' },
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
    const files = values.filename ?? [];
    let targets: Target[];
    if (files.length > 0) {
      if (positionals.length > 0) throw new UsageError('give either <kind> <name> or -f, not both');
      const found = await fromFiles(files);
      if (!found) return 1;
      targets = found;
    } else {
      if (positionals.length !== 2) throw new UsageError('give <kind> <name>, or -f <file|dir|->');
      targets = [{ kind: parseKind(positionals[0]!), namespace: values.namespace ?? 'default', name: positionals[1]! }];
    }
    const dryRun = values['dry-run'] === true;
    let ifMatch = intFlag('if-match', values['if-match'], 0, Number.MAX_SAFE_INTEGER);
    const client = new ApiClient(await connectionFrom(values));
    let failed = 0;
    try {
      for (const t of targets) {
        const path = `/v1/resources/${t.kind}/${encodeURIComponent(t.namespace)}/${encodeURIComponent(t.name)}${dryRun ? '?dryRun=true' : ''}`;
        const res = await client.call<{ revision: number }>('DELETE', path, undefined, ifMatch === undefined ? {} : { 'if-match': String(ifMatch) });
        const label = `${t.kind} ${t.namespace}/${t.name}`;
        if (res.status === 200) {
          process.stdout.write(`${label} deleted${dryRun ? ' (dry run)' : ''}\n`);
          // Our own delete moved the revision: the next one is compared with that, not with what we were given.
          if (ifMatch !== undefined && !dryRun) ifMatch = (res.body as { revision: number }).revision;
        } else {
          failed++;
          process.stderr.write(`${label}${t.where ? ` (${t.where})` : ''}: ${describeApiError(res.status, res.body)}\n`);
          const current = conflictRevision(res.status, res.body);
          if (current !== undefined) {
            process.stderr.write(`nothing more was deleted: someone changed the configuration since revision ${ifMatch} (it is at revision ${current} now)\n`);
            break;
          }
        }
      }
    } finally {
      await client.close();
    }
    return failed > 0 ? 1 : 0;
  },
};

/** kind/namespace/name of every document; undefined (after printing why) when a file is unreadable or a document names nothing. */
async function fromFiles(files: string[]): Promise<Target[] | undefined> {
  let docs;
  try {
    docs = await readDocuments(files);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return undefined;
  }
  const targets: Target[] = [];
  const problems: string[] = [];
  for (const d of docs) {
    const r = d.value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    if (typeof r?.kind !== 'string' || typeof r.metadata?.name !== 'string') {
      problems.push(`  ${d.where}: needs kind and metadata.name to say what to delete`);
      continue;
    }
    let kind: string;
    try {
      kind = parseKind(r.kind);
    } catch (err) {
      problems.push(`  ${d.where}: kind: ${(err as Error).message}`);
      continue;
    }
    targets.push({ kind, namespace: typeof r.metadata.namespace === 'string' ? r.metadata.namespace : 'default', name: r.metadata.name, where: d.where });
  }
  if (problems.length > 0) {
    process.stderr.write(`nothing was deleted:\n${problems.join('\n')}\n`);
    return undefined;
  }
  // Routes before the Services whose subsets they use, which the control plane refuses to delete first.
  const order = (kind: string) => (kind === 'Route' ? 0 : kind === 'Service' ? 2 : 1);
  return targets.sort((a, b) => order(a.kind) - order(b.kind));
}
