/**
 * The admin token: made on the first start and written (0600) to the data
 * directory, or read from a file the operator provides. Whoever can read that
 * file administers the mesh.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { writeFileAtomic } from '../store/atomic-write.js';
import { newSecret } from './secret.js';

export const ADMIN_TOKEN_FILE = 'admin-token';
const ADMIN_PREFIX = 'hyphae-admin.';

/** Resolves with the token and the file it lives in; `created` when this start made it. */
export async function loadAdminToken(dataDir: string, file?: string): Promise<{ token: string; file: string; created: boolean }> {
  if (file) {
    const token = (await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot read --admin-token-file ${file}: ${err.code ?? err.message}`);
    })).trim();
    if (token.length < 16 || token.length > 512 || /\s/.test(token)) {
      throw new MeshError(ErrorCode.INVALID_OPTIONS, `--admin-token-file ${file} must hold one token of 16 to 512 characters without spaces`);
    }
    return { token, file, created: false };
  }
  const own = path.join(dataDir, ADMIN_TOKEN_FILE);
  const existing = await readFile(own, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing !== undefined && existing.trim() !== '') return { token: existing.trim(), file: own, created: false };
  const token = `${ADMIN_PREFIX}${newSecret()}`;
  await writeFileAtomic(own, `${token}\n`);
  return { token, file: own, created: true };
}
