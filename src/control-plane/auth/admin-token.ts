/**
 * The admin token: made on the first start and written (0600) to the data
 * directory, or read from a file the operator provides. Whoever can read that
 * file administers the mesh.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { checkPrivate } from '../../core/private-file.js';
import { digest, MAX_SECRET_LENGTH, MIN_SECRET_LENGTH, newSecret, readableWarning, sameDigest } from './secret.js';
import { readIfExists } from '../../core/optional-file.js';

export const ADMIN_TOKEN_FILE = 'admin-token';
const ADMIN_PREFIX = 'hyphae-admin.';

/** Resolves with the token and the file it lives in; `created` when this start made it; `warning` for the log. */
export async function loadAdminToken(dataDir: string, file?: string): Promise<{ token: string; file: string; created: boolean; warning?: string }> {
  if (file) {
    // The file says who administers the mesh: nobody else may have been able to write it.
    const { readableByOthers } = await checkPrivate(file, '--admin-token-file');
    const token = (
      await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot read --admin-token-file ${file}: ${err.code ?? err.message}`);
      })
    ).trim();
    checkAdminToken(token, `--admin-token-file ${file}`, 'write one there (openssl rand -hex 32 > <file>)');
    return { token, file, created: false, ...(readableByOthers && { warning: readableWarning(`--admin-token-file ${file}`) }) };
  }
  const own = path.join(dataDir, ADMIN_TOKEN_FILE);
  const existing = await readOwn(own);
  if (existing !== undefined) return { token: existing, file: own, created: false };
  const token = `${ADMIN_PREFIX}${newSecret()}`;
  await writeFileAtomic(own, `${token}\n`);
  return { token, file: own, created: true };
}

/** Refuse an admin token that could be guessed, or that is not one token. */
function checkAdminToken(token: string, where: string, fix: string): void {
  if (token.length < MIN_SECRET_LENGTH || token.length > MAX_SECRET_LENGTH || /\s/.test(token)) {
    throw new MeshError(
      ErrorCode.INVALID_OPTIONS,
      `${where} must hold one admin token of ${MIN_SECRET_LENGTH} to ${MAX_SECRET_LENGTH} characters without spaces (it holds ${token.length} characters${/\s/.test(token) ? ' with spaces' : ''}): ${fix}`,
    );
  }
}

/** The admin token's digest as replicas share it (etcd: `auth/admin`). */
export interface SharedAdminDigest {
  /** The digest in force now (it follows the shared store); undefined before the first replica stored one. */
  adminDigest(): Buffer | undefined;
  /** Store `digest` unless a digest is stored already; resolves with the digest in force. */
  createAdmin(digest: Buffer): Promise<Buffer>;
}

export interface SharedAdminToken {
  /** Where this replica has the token itself, if it has it. */
  file: string | undefined;
  /** What the log says about it. */
  note: string;
  warning?: string;
}

/**
 * The mesh's admin token when replicas share one: its digest lives in the
 * shared store, so every replica accepts the same token.
 *
 * - With --admin-token-file (the way to run replicas: the same file on each),
 *   the file's token must be the mesh's; the first replica stores its digest.
 * - Without, the replica that starts first makes the token and writes it to
 *   its own data directory (0600), as a single control plane does; the others
 *   accept it without holding a copy.
 */
export async function loadSharedAdminToken(dataDir: string, file: string | undefined, shared: SharedAdminDigest): Promise<SharedAdminToken> {
  if (file) {
    const { token, warning } = await loadAdminToken(dataDir, file);
    const inForce = await shared.createAdmin(digest(token));
    if (!sameDigest(inForce, digest(token))) {
      throw new MeshError(
        ErrorCode.INVALID_OPTIONS,
        `--admin-token-file ${file} does not hold this mesh's admin token: the replicas already running (the digest in etcd) use another one. Give every replica the same admin token file.`,
      );
    }
    return { file, note: `read from ${file}`, ...(warning && { warning }) };
  }
  const own = path.join(dataDir, ADMIN_TOKEN_FILE);
  const existing = await readOwn(own);
  const current = shared.adminDigest();
  if (current) {
    if (existing !== undefined && sameDigest(digest(existing), current)) return { file: own, note: `read from ${own}` };
    return {
      file: undefined,
      note: `is the mesh's (its digest is in etcd); this replica holds no copy${existing !== undefined ? ` (${own} holds another token, ignored)` : ''}: the replica that made it wrote it to its data directory, or give every replica --admin-token-file`,
    };
  }
  const token = existing ?? `${ADMIN_PREFIX}${newSecret()}`;
  if (existing === undefined) await writeFileAtomic(own, `${token}\n`);
  const inForce = await shared.createAdmin(digest(token));
  if (sameDigest(inForce, digest(token))) return { file: own, note: `${existing === undefined ? 'created in' : 'read from'} ${own}` };
  // Another replica stored its token first: ours was never in force.
  if (existing === undefined) await rm(own, { force: true });
  return { file: undefined, note: "is the mesh's, made by a replica that started at the same time (in its data directory); this replica holds no copy" };
}

/** The admin token in the data directory, if there is one (the directory's permissions are checked at start). */
async function readOwn(file: string): Promise<string | undefined> {
  const text = await readIfExists(file);
  if (text === undefined || text.trim() === '') return undefined;
  const token = text.trim();
  checkAdminToken(token, file, `remove it to have a new one made at the next start, or write a longer one (openssl rand -hex 32 > ${file})`);
  return token;
}
