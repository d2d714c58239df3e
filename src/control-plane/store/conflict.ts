/**
 * The compare-and-swap failure every store raises the same way, so the API
 * answers 409 with the current revision whichever store is behind it.
 */
import { ErrorCode, MeshError } from '../../core/errors.js';

export function revisionConflict(expected: number, current: number): MeshError {
  return new MeshError(
    ErrorCode.CONFLICT,
    `revision conflict: the write expected revision ${expected}, the configuration is at revision ${current}; ` + `read it again and retry with If-Match: ${current}`,
    { rejected: true, details: { expectedRevision: expected, revision: current } },
  );
}
