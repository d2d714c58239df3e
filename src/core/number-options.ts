/**
 * The numeric options of an entry point (wrapServer, serveGrpc) checked at once, so that a bad one fails
 * with every bad one named, before anything listens.
 */
import { ErrorCode, MeshError } from './errors.js';

/** Throws HYPHAE_ERR_INVALID_OPTIONS naming each of `keys` set to something other than a number >= 0 (an integer, if asked). */
export function checkNonNegative<K extends string>(where: string, options: Partial<Record<K, unknown>>, keys: readonly K[], integer = false): void {
  const ok = (v: unknown) => (integer ? Number.isInteger(v) : Number.isFinite(v)) && (v as number) >= 0;
  const bad = keys.filter((k) => options[k] !== undefined && !ok(options[k]));
  if (bad.length === 0) return;
  const rule = integer ? 'an integer >= 0' : 'a number >= 0';
  throw new MeshError(ErrorCode.INVALID_OPTIONS, `${where} options: ${bad.map((k) => `${k} must be ${rule} (got ${String(options[k])})`).join('; ')}`, {
    details: { options: bad },
  });
}
