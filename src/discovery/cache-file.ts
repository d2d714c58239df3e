/**
 * Files of the discovery cache: where the cache lives, making sure nobody
 * else can write there (the cache holds the trust bundle: a planted root would
 * be trusted), and replacing a file atomically with core/atomic-write.ts (the
 * control plane's own: temp file, fsync, rename, fsync of the directory), so a
 * crash leaves the old or the new content, never a mix.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** `$XDG_CACHE_HOME/hyphae` when set, else `<os.tmpdir()>/hyphae-cache-<uid>`. */
export function defaultCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'hyphae');
  const uid = typeof process.getuid === 'function' ? process.getuid() : os.userInfo().username;
  return path.join(os.tmpdir(), `hyphae-cache-${uid}`);
}

/**
 * The cache directory of one control plane (set of URLs): snapshots from
 * different control planes (prod, staging, a test) never mix.
 */
export function cacheDirFor(root: string, controlPlaneUrls: readonly string[]): string {
  const key = createHash('sha256')
    .update(
      [...controlPlaneUrls]
        .map((u) => u.replace(/\/+$/, ''))
        .sort()
        .join('\n'),
    )
    .digest('hex')
    .slice(0, 16);
  return path.join(root, key);
}

/**
 * Create `dir` (and its parents) private to this user, and check that it is:
 * owned by us and not writable by group or others. Returns why not, or undefined when it is safe.
 * `dir` itself ends up 0700: it holds the trust bundle and, with mTLS, the workload's key.
 */
export function ensurePrivateDir(dir: string): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // The root may have been created earlier by someone else (a shared /tmp): check it and ours.
    for (const d of [path.dirname(dir), dir]) {
      const st = statSync(d);
      if (!st.isDirectory()) return `${d} is not a directory`;
      if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return `${d} is owned by uid ${st.uid}, not by this user`;
      if ((st.mode & 0o022) !== 0) return `${d} is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
      // Ours but readable by others (made by hand, restored from a backup): mkdir's mode applies only to a new one.
      if (d === dir && (st.mode & 0o077) !== 0) chmodSync(d, 0o700);
    }
    return undefined;
  } catch (err) {
    return `cannot use ${dir}: ${(err as Error).message}`;
  }
}

// The cache's files are written as the control plane's are: atomically, readable by this user only.
export { writeFileAtomic } from '../core/atomic-write.js';
