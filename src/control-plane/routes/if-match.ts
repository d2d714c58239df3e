/**
 * Compare-and-swap on the API: `If-Match: <revision>` on a write means "only
 * if the configuration is still at this revision" (the `revision` that every
 * GET /v1/resources answer carries). A stale one is answered 409
 * HYPHAE_ERR_CONFLICT with the current revision. The ETag form `"12"` is
 * accepted too; `*` and no header mean "whatever the revision".
 */
import type { IncomingMessage } from 'node:http';
import { badRequest } from '../http/http-error.js';
import { revisionConflict } from '../store/conflict.js';
import type { Store, WriteOptions } from '../store/store.js';

export function writeOptions(req: IncomingMessage): WriteOptions {
  const header = req.headers['if-match'];
  if (header === undefined) return {};
  const value = header.trim();
  if (value === '*') return {};
  const m = /^(?:W\/)?"?(\d{1,15})"?$/.exec(value);
  if (!m) throw badRequest(`If-Match must be one configuration revision, such as If-Match: 12 (got "${value.slice(0, 50)}")`);
  return { expectedRevision: Number(m[1]) };
}

/**
 * The revision a write is validated and made at: the caller's If-Match, once
 * this replica has caught up to it (a stale one is a conflict at once), or
 * else the current one.
 */
export async function baseRevision(store: Store, ifMatch: number | undefined): Promise<number> {
  if (ifMatch === undefined) return store.revision();
  // A replica's cache can trail a write made through another replica by milliseconds.
  if (ifMatch > store.revision()) await store.caughtUp?.(ifMatch, 1_000);
  if (ifMatch !== store.revision()) throw revisionConflict(ifMatch, store.revision());
  return ifMatch;
}
