/**
 * One control plane per data directory: two writers would silently overwrite
 * each other's resources. The lock file holds the owner's pid, so a lock left
 * by a crashed (SIGKILLed) process is recognised as stale and taken over.
 */
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, MeshError } from '../../core/errors.js';

export interface DirLock {
  readonly file: string;
  release(): Promise<void>;
}

export async function lockDir(dir: string): Promise<DirLock> {
  const file = path.join(dir, 'lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(`${process.pid}\n`);
      } finally {
        await handle.close();
      }
      return { file, release: () => rm(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
        throw new MeshError(
          ErrorCode.INVALID_OPTIONS,
          `data directory ${dir} is in use by process ${pid} (lock file ${file}); stop that control plane or choose another data directory`,
        );
      }
      await rm(file, { force: true });
    }
  }
  throw new MeshError(ErrorCode.INVALID_OPTIONS, `could not lock data directory ${dir}: another process keeps taking ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
