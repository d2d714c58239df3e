/**
 * Files a process keeps in its data directory and may not have written yet (a first start): their absence
 * is an answer, every other failure (permissions, a directory in the way) is an error for the caller.
 */
import { readFile, stat } from 'node:fs/promises';

function absent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The file's text, or undefined when there is no such file. */
export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (absent(err)) return undefined;
    throw err;
  }
}

export async function fileExists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if (absent(err)) return false;
    throw err;
  }
}
