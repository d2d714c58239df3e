/** The instrumentation scope every hyphae span and instrument is created under. */
import { readFileSync } from 'node:fs';

export const SCOPE_NAME = 'hyphae';

/** The package version (build/src/telemetry/scope.js -> package.json), read once at load. */
export const SCOPE_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
