/** Example services (built with the library) as child processes, for integration tests. */
import path from 'node:path';
import type { RunningControlPlane } from './control-plane.js';
import { buildDir, startNode, type Child } from './process.js';

export interface RunningService {
  child: Child;
  /** The instance id the control plane gave it (address:port). */
  id: string;
  version: string;
}

/**
 * The example api service: given a control plane, with its own join token and the CA file when that
 * control plane is secure; given URLs (comma-separated), for insecure control planes (replicas).
 */
export async function startApi(cp: RunningControlPlane | string, version = 'v1', env: NodeJS.ProcessEnv = {}): Promise<RunningService> {
  const child = startNode(path.join(buildDir, 'examples/api/server.js'), [], {
    ...(typeof cp === 'string' ? { HYPHAE_CONTROL_PLANE: cp } : await cp.env('api')),
    HYPHAE_DRAIN_DELAY_MS: '300',
    VERSION: version,
    ...env,
  });
  const m = await child.waitFor(/ready service=api instance=(\S+)/, 60_000);
  return { child, id: m[1]!, version };
}

export { waitUntil } from './wait.js';
