/**
 * Replace a file so that a crash at any point leaves either the old or the new
 * content, never a mix: write a temporary file next to it, fsync it, rename it
 * over the old one (atomic within a directory), then fsync the directory so
 * the rename itself is durable.
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, MeshError } from './errors.js';

const TMP_SUFFIX = '.tmp';

export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}${TMP_SUFFIX}`;
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw storeFull(err, file) ?? err;
  }
  await syncDir(path.dirname(file));
}

/**
 * A full file system (or a quota) is the operator's to fix, not a bug: a coded error naming the file, so
 * the API can answer 507 and a start can say which file it could not write, instead of a bare ENOSPC.
 */
export function storeFull(err: unknown, file: string): MeshError | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return undefined;
  const why = code === 'ENOSPC' ? 'no space left on its file system' : 'the disk quota is exceeded';
  return new MeshError(ErrorCode.STORE_FULL, `cannot write ${file}: ${why} (${code}); free space there (df ${path.dirname(file)}), then retry. Nothing was changed`, {
    cause: err,
    details: { file },
  });
}

async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    // Some platforms and file systems cannot fsync a directory; the rename is still atomic there.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    await handle?.close();
  }
}

/** Temporary files left by a crash mid-write: never valid, safe to delete once we hold the directory lock. */
export async function removeStaleTemps(file: string): Promise<string[]> {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  const stale = (await readdir(dir)).filter((n) => n.startsWith(prefix) && n.endsWith(TMP_SUFFIX));
  await Promise.all(stale.map((n) => rm(path.join(dir, n), { force: true })));
  return stale;
}
