/**
 * The control plane reports problems at `items[i].<field>`; a person wants
 * the file and document. These map one to the other.
 */
import type { ApiErrorBody } from '../config/wire.js';
import type { SourceDocument } from './documents.js';

/** Every problem of a rejected apply, one per line, each with its document and field path. */
export function describeRejection(status: number, body: unknown, docs: readonly SourceDocument[]): string {
  const err = (body as ApiErrorBody | undefined)?.error;
  if (!err) return `the control plane answered ${status}`;
  if (!err.issues || err.issues.length === 0) return `${err.code}: ${err.message}`;
  const lines = err.issues.map((i) => `  ${locate(i.path, docs)}: ${i.message}`);
  return `${err.code}: ${err.issues.length === 1 ? 'a problem' : `${err.issues.length} problems`}; nothing was applied:\n${lines.join('\n')}`;
}

function locate(path: string, docs: readonly SourceDocument[]): string {
  const m = /^items\[(\d+)\]\.?(.*)$/.exec(path);
  const doc = m ? docs[Number(m[1])] : undefined;
  if (!m || !doc) return path || '(request)';
  return m[2] ? `${doc.where}: ${m[2]}` : doc.where;
}
