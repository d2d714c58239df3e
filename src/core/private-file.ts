/**
 * Files that decide who is trusted (a data directory, a token or key file)
 * must be ones no other user could have written, as ssh requires of
 * authorized_keys (StrictModes): owned by this user or root, not writable by
 * group or others, and in directories that nobody else can swap them out of.
 * An admin token planted in a world-writable directory would otherwise be
 * adopted as the mesh's.
 *
 * POSIX only: where the platform has no uids (Windows) nothing is checked.
 */
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { ErrorCode, MeshError } from './errors.js';

export interface PrivateCheck {
  /** The path checked (after symbolic links). */
  real: string;
  /** Group or others may read it: worth a warning for a secret, harmless for a directory of ours. */
  readableByOthers: boolean;
}

/**
 * Refuse `target` (and, for what it is, say which fix) when another user could
 * have written it. `what` names it in the message, e.g. "--admin-token-file" or
 * "the data directory". Ancestors may be writable by others only with the
 * sticky bit (/tmp): there, others cannot rename or remove what is ours.
 */
export async function checkPrivate(target: string, what: string): Promise<PrivateCheck> {
  return checkPrivateSync(target, what);
}

/**
 * The same, for callers that cannot wait (the CLI resolves its connection synchronously): a few stat()
 * calls, made once at start, which block nothing worth waiting for.
 */
export function checkPrivateSync(target: string, what: string): PrivateCheck {
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : undefined;
  let real: string;
  try {
    real = realpathSync(target);
  } catch (err) {
    throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot read ${what} ${target}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const st = statSync(real);
  if (uid === undefined) return { real, readableByOthers: false };
  const shown = real === target ? target : `${target} (${real})`;
  const fix = st.isDirectory() ? `chmod 700 ${real}` : `chmod 600 ${real}`;
  if (st.uid !== uid && st.uid !== 0) {
    throw unsafe(
      `${what} ${shown} is owned by uid ${st.uid}, not by this user (uid ${uid}) or root: another user could have put it there or changed it. If it is yours, fix with: chown ${uid} ${real} && ${fix}`,
      real,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw unsafe(`${what} ${shown} is writable by ${writers(st.mode)} (mode ${octal(st.mode)}): another user could have put it there or changed it. Fix with: ${fix}`, real);
  }
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    const d = statSync(dir);
    if (d.uid !== uid && d.uid !== 0) {
      throw unsafe(
        `${dir}, a parent directory of ${what} ${real}, is owned by uid ${d.uid}, not by this user (uid ${uid}) or root: its owner could swap ${real} for another. Move it, or fix with: chown ${uid} ${dir}`,
        dir,
      );
    }
    if ((d.mode & 0o022) !== 0 && (d.mode & 0o1000) === 0) {
      throw unsafe(
        `${dir}, a parent directory of ${what} ${real}, is writable by ${writers(d.mode)} without the sticky bit (mode ${octal(d.mode)}): another user could swap ${real} for another. Fix with: chmod go-w ${dir}`,
        dir,
      );
    }
    if (dir === path.dirname(dir)) break;
  }
  return { real, readableByOthers: (st.mode & 0o044) !== 0 };
}

function writers(mode: number): string {
  return (mode & 0o020) !== 0 && (mode & 0o002) !== 0 ? 'group and others' : (mode & 0o020) !== 0 ? 'its group' : 'others';
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

function unsafe(message: string, file: string): MeshError {
  return new MeshError(ErrorCode.UNSAFE_PERMISSIONS, message, { details: { file } });
}
