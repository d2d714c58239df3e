/** The instrumentation scope every hyphae span and instrument is created under. */
import { PACKAGE_VERSION } from '../core/version.js';

export const SCOPE_NAME = 'hyphae';

/** The package version; an instrumentation scope wants a semver, so 0.0.0 when it cannot be read. */
export const SCOPE_VERSION: string = PACKAGE_VERSION === 'unknown' ? '0.0.0' : PACKAGE_VERSION;
