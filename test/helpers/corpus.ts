/** The request-target corpora (test/fixtures/corpus, copied from the shared corpus; see its README), one target a line. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './process.js';

export function corpus(name: 'path-bypass.txt' | 'path-benign.txt'): string[] {
  return readFileSync(path.join(repoRoot, 'test/fixtures/corpus', name), 'latin1')
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l !== '' && !l.startsWith('#'));
}
