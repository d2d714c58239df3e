/**
 * Compare-and-swap on the API: `If-Match: <revision>` on a write means "only
 * if the configuration is still at this revision" (the `revision` that every
 * GET /v1/resources answer carries). A stale one is answered 409
 * HYPHAE_ERR_CONFLICT with the current revision. The ETag form `"12"` is
 * accepted too; `*` and no header mean "whatever the revision".
 */
import type { IncomingMessage } from 'node:http';
import { badRequest } from '../http/http-error.js';
import type { WriteOptions } from '../store/store.js';

export function writeOptions(req: IncomingMessage): WriteOptions {
  const header = req.headers['if-match'];
  if (header === undefined) return {};
  const value = header.trim();
  if (value === '*') return {};
  const m = /^(?:W\/)?"?(\d{1,15})"?$/.exec(value);
  if (!m) throw badRequest(`If-Match must be one configuration revision, such as If-Match: 12 (got "${value.slice(0, 50)}")`);
  return { expectedRevision: Number(m[1]) };
}
