/**
 * Where a wrapped server's authorization policies come from. The server layer
 * may not import discovery (DESIGN dependency direction), so it declares what
 * it needs here and the mesh wires its watch of the server's own service in,
 * as it does for the ServerRegistrar.
 */
import type { AuthorizationPolicyResource } from '../config/resources.js';

export interface PolicySource {
  /**
   * Hear the policies that apply to this workload: the current list as soon
   * as it is known, then the whole list again on every change (an empty list
   * means no policy). Returns a disposer.
   */
  subscribe(listener: (policies: readonly AuthorizationPolicyResource[]) => void): () => void;
}
