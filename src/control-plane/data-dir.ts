/**
 * The data directory decides what the control plane trusts: its CA, the admin
 * token, the join tokens, the configuration. At every start, before anything
 * in it is read, it and the state files in it must be ones no other user could
 * have written (core/private-file.ts): an admin token planted in a
 * world-writable directory would otherwise be adopted as the mesh's.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkPrivate } from '../core/private-file.js';
import { ADMIN_TOKEN_FILE } from './auth/admin-token.js';
import { TOKENS_FILE } from './auth/token-store.js';
import { CA_STATE_FILE } from './ca/ca-state.js';
import { RESTART_HOLD_FILE } from './registry/restart-hold.js';
import { STORE_FILE } from './store/file-store.js';

/** Files the control plane reads back from its data directory and acts on. */
const STATE_FILES = [ADMIN_TOKEN_FILE, CA_STATE_FILE, TOKENS_FILE, STORE_FILE, RESTART_HOLD_FILE];

/** Create the directory (0700) if it is missing, then refuse it if another user could have written it or its state. */
export async function checkDataDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await checkPrivate(dir, 'the data directory');
  for (const name of STATE_FILES) {
    const file = path.join(dir, name);
    const present = await stat(file).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
    if (present) await checkPrivate(file, `${name} in the data directory`);
  }
}
