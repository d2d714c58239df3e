/** What apply and diff share: read the documents, send them as one batch, report a rejection by document. */
import type { Resource } from '../../config/resources.js';
import type { ApiClient } from '../api-client.js';
import { UsageError } from '../command.js';
import { DocumentError, readDocuments, type SourceDocument } from '../documents.js';
import { describeRejection } from '../issues.js';

/** The control plane's limit on one apply (MAX_ITEMS_PER_APPLY). */
const MAX_ITEMS = 1000;

export interface PlannedResult {
  kind: string;
  namespace: string;
  name: string;
  action: 'created' | 'updated' | 'unchanged';
  before?: Resource;
  after?: Resource;
}

export type SendOutcome = { ok: true; docs: SourceDocument[]; results: PlannedResult[]; revision: number } | { ok: false };

/**
 * Problems are written to stderr here; the caller only decides the exit code.
 * `ifMatch`: apply only if the configuration is still at this revision (compare-and-swap).
 */
export async function sendDocuments(client: ApiClient, files: string[] | undefined, dryRun: boolean, ifMatch?: number): Promise<SendOutcome> {
  if (!files || files.length === 0) throw new UsageError('-f <file|dir|-> is required');
  let docs: SourceDocument[];
  try {
    docs = await readDocuments(files);
  } catch (err) {
    if (!(err instanceof DocumentError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return { ok: false };
  }
  if (docs.length === 0) {
    process.stderr.write(`no resources found in ${files.join(', ')}\n`);
    return { ok: false };
  }
  if (docs.length > MAX_ITEMS) {
    process.stderr.write(`${docs.length} resources in one apply; the control plane takes at most ${MAX_ITEMS}: split them\n`);
    return { ok: false };
  }
  const res = await client.call<{ results: PlannedResult[]; revision: number }>(
    'PUT',
    `/v1/resources${dryRun ? '?dryRun=true' : ''}`,
    { items: docs.map((d) => d.value) },
    ifMatch === undefined ? {} : { 'if-match': String(ifMatch) },
  );
  if (res.status !== 200) {
    process.stderr.write(`${describeRejection(res.status, res.body, docs)}\n`);
    const current = conflictRevision(res.status, res.body);
    if (current !== undefined) {
      process.stderr.write(
        `nothing was applied: someone changed the configuration since revision ${ifMatch} (it is at revision ${current} now). ` +
          `See what changed with "hyphae diff -f ...", then apply again with --if-match ${current}\n`,
      );
    }
    return { ok: false };
  }
  const body = res.body as { results: PlannedResult[]; revision: number };
  return { ok: true, docs, results: body.results, revision: body.revision };
}

/** The configuration's current revision named by a 409 HYPHAE_ERR_CONFLICT, if that is what this is. */
export function conflictRevision(status: number, body: unknown): number | undefined {
  const err = (body as { error?: { code?: string; revision?: unknown; details?: { revision?: unknown } } } | undefined)?.error;
  if (status !== 409 || err?.code !== 'HYPHAE_ERR_CONFLICT') return undefined;
  const rev = err.revision ?? err.details?.revision;
  return typeof rev === 'number' ? rev : undefined;
}
