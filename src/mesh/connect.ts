import { ErrorCode, MeshError } from '../core/errors.js';
import { fullJitter, sleep } from '../core/backoff.js';
import type { Logger } from '../core/logger.js';
import type { ControlPlaneClient } from '../discovery/control-plane-client.js';

/**
 * Reach the control plane before the mesh is handed to the application: fail
 * with a clear error after bounded attempts, or wait with backoff when asked.
 * An abort (the mesh closed meanwhile) rejects with the signal's reason.
 */
export async function connectControlPlane(client: ControlPlaneClient, attempts: number, wait: boolean, logger: Logger, signal?: AbortSignal): Promise<void> {
  let lastErr: unknown;
  for (let i = 0; wait || i < attempts; i++) {
    // close() during a start that waits for the control plane ends the wait (sleep rejects with the reason too).
    signal?.throwIfAborted();
    try {
      await client.health();
      if (i > 0) logger.info('hyphae: control plane reachable', { url: client.currentUrl });
      return;
    } catch (err) {
      lastErr = err;
      if (i === 0 && wait) logger.warn('hyphae: waiting for the control plane', { urls: client.urls, error: String(err) });
      if (wait || i + 1 < attempts) await sleep(fullJitter(i + 1, { baseMs: 200, maxMs: wait ? 5_000 : 1_000 }), signal);
    }
  }
  const why = lastErr instanceof Error ? lastErr.message : String(lastErr);
  // A TLS verification failure is not an absent control plane: say which setting to look at.
  const hint = /certificate|self[- ]signed|UNABLE_TO_VERIFY|ERR_TLS/i.test(why)
    ? "Its HTTPS certificate is not trusted: point caFile / HYPHAE_CA_FILE at the control plane's ca-bundle.pem."
    : 'Start it with `hyphae control-plane`, check HYPHAE_CONTROL_PLANE, or pass waitForControlPlane: true to wait.';
  throw new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `control plane unreachable after ${attempts} attempts (${client.urls.join(', ')}): ${why}. ${hint}`, {
    cause: lastErr,
    retryable: true,
    details: { urls: client.urls, attempts },
  });
}
