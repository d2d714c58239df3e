/**
 * One control plane per data directory: two writers would silently overwrite
 * each other's resources. The lock must end with its holder, however that
 * dies (SIGKILL, OOM, a container stopped), and must hold against a live
 * holder wherever that runs (another container sharing the volume).
 *
 * A pid in a file cannot do both. A control plane that ran as PID 1 of a
 * container leaves "1", and in the next container PID 1 is the reader itself,
 * so it looks alive for ever. Adding the boot id and the process start time
 * (/proc/<pid>/stat, field 22) tells a dead PID 1 from a new one, but a live
 * holder in another PID namespace cannot be seen at all from this one: its
 * "1" reads as our own PID 1 with another start time, i.e. as dead, and two
 * control planes would run on one directory.
 *
 * So the lock is the kernel's: flock(2) on the lock file, which the kernel
 * drops when the last descriptor of the open file closes — at exit, however
 * the process ended. flock locks belong to the file (the inode), so they hold
 * across PID, mount and network namespaces. Node has no flock(2), and a native
 * addon is not worth one call: the `flock` command (util-linux, or busybox)
 * locks a descriptor it inherits, `flock -x -n 3`. A flock lock belongs to the
 * open file description, shared by our descriptor and the child's copy, so the
 * command exits at once and the lock lives as long as OUR descriptor. Node
 * opens files close-on-exec: no other child inherits it. Other choices: an
 * abstract unix socket dies with its holder but is per network namespace (two
 * containers would both get it); a heartbeat in the file goes stale only after
 * a delay and is wrong for a stopped (SIGSTOP) holder.
 *
 * Without a `flock` command (macOS, a distroless image) the fallback is the
 * holder's identity written in the file, O_EXCL: pid, boot id, start time and
 * PID namespace. A holder in another PID namespace cannot be judged from here,
 * so it is taken as alive and the message says how to remove its lock.
 *
 * The file holds the holder's identity in both cases, for the message another
 * control plane prints when it is refused.
 */
import { spawn } from 'node:child_process';
import { constants, readFileSync } from 'node:fs';
import { open, readFile, readlink, rm, stat, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ErrorCode, MeshError } from '../../core/errors.js';

export const LOCK_FILE = 'lock';

export interface DirLock {
  readonly file: string;
  /** `flock`: the kernel's lock on our descriptor; `identity`: the fallback (no `flock` command). */
  readonly kind: 'flock' | 'identity';
  release(): Promise<void>;
}

export interface LockOptions {
  /** The flock(1) command. Default `flock` from PATH; a command that does not exist selects the fallback. */
  flockCommand?: string;
}

/** Who holds the lock, as written in the lock file. */
export interface LockHolder {
  pid: number;
  host?: string;
  startedAt?: string;
  /** /proc/sys/kernel/random/boot_id: a pid from before a reboot is nobody now. */
  bootId?: string;
  /** /proc/<pid>/stat field 22 (clock ticks after boot): tells the holder from a later process given the same pid. */
  startTime?: string;
  /** readlink /proc/self/ns/pid: pids of another PID namespace cannot be looked up here. */
  pidNs?: string;
  /** Held with flock(2): only the kernel's lock says whether it is held. */
  flock?: boolean;
}

const ATTEMPTS = 3;

export async function lockDir(dir: string, options: LockOptions = {}): Promise<DirLock> {
  const file = path.join(dir, LOCK_FILE);
  const self = await ownIdentity();
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const got = await tryFlock(file, options.flockCommand ?? 'flock', self);
    if (got === 'retry') continue;
    if (got === 'unavailable') return identityLock(dir, file, self);
    if (got === 'held') throw inUse(dir, file, await readHolder(file), self);
    return got;
  }
  throw new MeshError(ErrorCode.INVALID_OPTIONS, `could not lock data directory ${dir}: its lock file ${file} keeps being replaced by another process`);
}

async function tryFlock(file: string, command: string, self: LockHolder): Promise<DirLock | 'held' | 'unavailable' | 'retry'> {
  const handle = await open(file, constants.O_RDWR | constants.O_CREAT, 0o600);
  let keep = false;
  try {
    const verdict = await flockDescriptor(command, handle, file);
    if (verdict !== 'locked') return verdict;
    // A holder releasing the lock removes the file while it still holds it: if we locked a file that was
    // removed meanwhile, the lock is on a name nobody else will open. Lock the file that is there now.
    const [ours, there] = await Promise.all([handle.stat(), stat(file).catch(() => undefined)]);
    if (!there || ours.ino !== there.ino || ours.dev !== there.dev) return 'retry';
    // A control plane without `flock` (the fallback) takes no kernel lock: honour its identity lock. A bare
    // pid (an older hyphae) is not honoured: that is the lock that never died with a PID 1.
    const previous = await readHolder(file);
    if (previous && previous.flock === false && judge(previous, self) !== 'dead') return 'held';
    await writeHolder(handle, { ...self, flock: true });
    keep = true;
    return {
      file,
      kind: 'flock',
      release: async () => {
        // Removed while still held (see above), then the descriptor closes, and with it the lock.
        await rm(file, { force: true });
        await handle.close();
      },
    };
  } finally {
    if (!keep) await handle.close();
  }
}

/** `flock -x -n 3` on our descriptor: exit 0 locked; 1 with nothing said: held by another (util-linux and busybox alike). */
function flockDescriptor(command: string, handle: FileHandle, file: string): Promise<'locked' | 'held' | 'unavailable'> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['-x', '-n', '3'], { stdio: ['ignore', 'ignore', 'pipe', handle.fd] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EACCES') resolve('unavailable');
      else reject(err);
    });
    child.once('close', (code) => {
      if (code === 0) resolve('locked');
      else if (code === 1 && stderr.trim() === '') resolve('held');
      else reject(new MeshError(ErrorCode.INVALID_OPTIONS, `cannot lock ${file}: \`${command} -x -n\` exited ${code}: ${stderr.trim()}`));
    });
  });
}

async function identityLock(dir: string, file: string, self: LockHolder): Promise<DirLock> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let handle: FileHandle;
    try {
      handle = await open(file, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await readHolder(file);
      if (holder && judge(holder, self) !== 'dead') throw inUse(dir, file, holder, self);
      await rm(file, { force: true });
      continue;
    }
    try {
      await writeHolder(handle, { ...self, flock: false });
    } finally {
      await handle.close();
    }
    return { file, kind: 'identity', release: () => rm(file, { force: true }) };
  }
  throw new MeshError(ErrorCode.INVALID_OPTIONS, `could not lock data directory ${dir}: another process keeps taking ${file}`);
}

/**
 * Whether the holder an identity lock names still runs. `unknown` when it ran in
 * another PID namespace of this boot: its pid means nothing here, so it may be alive.
 */
export function judge(holder: LockHolder, self: LockHolder): 'alive' | 'dead' | 'unknown' {
  if (holder.bootId && self.bootId && holder.bootId !== self.bootId) return 'dead';
  if (holder.pidNs && self.pidNs && holder.pidNs !== self.pidNs) return 'unknown';
  if (holder.startTime && self.startTime) {
    // Linux: the pid's start time says whether it is still the same process.
    const now = startTimeOf(holder.pid);
    return now !== undefined && now === holder.startTime ? 'alive' : 'dead';
  }
  try {
    process.kill(holder.pid, 0);
    return 'alive';
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? 'alive' : 'dead';
  }
}

async function ownIdentity(): Promise<LockHolder> {
  const [bootId, pidNs] = await Promise.all([
    readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
      (s) => s.trim(),
      () => undefined,
    ),
    readlink('/proc/self/ns/pid').catch(() => undefined),
  ]);
  const startTime = startTimeOf(process.pid);
  return {
    pid: process.pid,
    host: os.hostname(),
    startedAt: new Date().toISOString(),
    ...(bootId && { bootId }),
    ...(startTime && { startTime }),
    ...(pidNs && { pidNs }),
  };
}

/** Field 22 of /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses, so count from its closing one. */
function startTimeOf(pid: number): string | undefined {
  let text: string;
  try {
    // Synchronous: a few hundred bytes of procfs, read at start or when judging a stale lock.
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
}

async function writeHolder(handle: FileHandle, holder: LockHolder): Promise<void> {
  const text = Buffer.from(`${JSON.stringify(holder)}\n`);
  try {
    // Over the old content, then cut: a file that had a block keeps it, so this works on a full disk too.
    await handle.write(text, 0, text.length, 0);
    await handle.truncate(text.length);
  } catch (err) {
    // Who holds the lock is only for messages: a full disk must not stop a start that needs no other write.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') throw err;
  }
}

/** The holder a lock file names; a bare pid is the format before identities (an older hyphae). */
async function readHolder(file: string): Promise<LockHolder | undefined> {
  const text = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (/^\d+$/.test(text)) return { pid: Number(text) };
  try {
    const parsed = JSON.parse(text) as LockHolder;
    return Number.isInteger(parsed.pid) && parsed.pid > 0 ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function inUse(dir: string, file: string, holder: LockHolder | undefined, self: LockHolder): MeshError {
  let who = 'another control plane';
  if (holder) {
    const elsewhere = holder.pidNs && self.pidNs && holder.pidNs !== self.pidNs;
    who += ` (pid ${holder.pid}${elsewhere ? ' in another PID namespace' : ''}${holder.host ? ` on host ${holder.host}` : ''}${holder.startedAt ? `, since ${holder.startedAt}` : ''})`;
  }
  const stale =
    holder && holder.flock === false && judge(holder, self) === 'unknown'
      ? ` It ran in another PID namespace, where this process cannot tell whether it still runs: if no control plane uses ${dir}, remove ${file}.`
      : '';
  return new MeshError(ErrorCode.INVALID_OPTIONS, `data directory ${dir} is in use by ${who}; lock file ${file}. Stop that control plane, or choose another --data-dir.${stale}`, {
    details: { file, ...(holder && { holder }) },
  });
}
