/** The words telemetry uses for how a request ended, read from the verdicts of the mesh's one classifier. */
import { errorVerdict, responseVerdict } from '../core/classifier.js';
import { MeshError } from '../core/errors.js';

/** `error.type` for a failure without a response: the MeshError code, the transport's code, or the error's name. */
export function errorType(err: unknown): string {
  if (err instanceof MeshError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.length <= 64) return code;
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name.length <= 64 ? name : '_OTHER';
}

/** The final answer of a call from the caller's side: anything whose verdict is not a success is a failure. */
export function isFailure(status: number, err: unknown): boolean {
  if (err !== undefined) return errorVerdict(err).outcome !== 'success';
  return status === 0 || responseVerdict(status).outcome !== 'success';
}
