/** Temporary directories and children of one test file, removed and killed when its tests are done. */
import { rm } from 'node:fs/promises';
import { after } from 'node:test';
import { makeTempDir } from './control-plane.js';
import type { Child } from './process.js';

export function scratch(prefix: string): { tempDir(): Promise<string>; keep(child: Child): Child } {
  const dirs: string[] = [];
  const children: Child[] = [];
  after(async () => {
    // SIGKILL of unshare reaches its child too (--kill-child).
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  return {
    async tempDir() {
      const d = await makeTempDir(prefix);
      dirs.push(d);
      return d;
    },
    keep(child) {
      children.push(child);
      return child;
    },
  };
}
