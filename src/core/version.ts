/** hyphae's own version, for `hyphae version` and the control plane's health answer (version skew checks). */
import { readFileSync } from 'node:fs';

/** build/src/core/version.js -> package.json at the package root, read once at load; "unknown" if it cannot be read. */
export const PACKAGE_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
})();
