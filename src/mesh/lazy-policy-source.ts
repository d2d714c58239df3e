/**
 * The policy source of a server wrapped before its mesh started: the
 * subscription waits for the start; while the start fails (control plane
 * down), it tries again with backoff, and the server's requests wait (then
 * 503, server/authz) meanwhile rather than run unchecked.
 */
import { ErrorCode, isMeshError } from '../core/errors.js';
import type { PolicySource } from '../server/policy-source.js';

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

/** `started` resolves with the started mesh's source (undefined: no policies to enforce), or rejects when the start failed. */
export function lazyPolicySource(started: () => Promise<PolicySource | undefined>): PolicySource {
  return {
    subscribe(listener) {
      let dispose: (() => void) | undefined;
      let timer: NodeJS.Timeout | undefined;
      let closed = false;
      const attempt = (delayMs: number) => {
        started().then(
          (source) => {
            if (closed) return;
            if (source) dispose = source.subscribe(listener);
            else listener([]);
          },
          (err: unknown) => {
            // A closed mesh never starts: nothing to wait for.
            if (closed || (isMeshError(err) && err.code === ErrorCode.MESH_CLOSED)) return;
            timer = setTimeout(() => attempt(Math.min(delayMs * 2, MAX_RETRY_MS)), delayMs);
            timer.unref();
          },
        );
      };
      attempt(FIRST_RETRY_MS);
      return () => {
        closed = true;
        clearTimeout(timer);
        dispose?.();
      };
    },
  };
}
