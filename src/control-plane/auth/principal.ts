/** Who is calling the control plane, as established from the request's bearer token. */
export type Principal =
  /** The admin token (or any caller of an insecure control plane): may do everything. */
  | { kind: 'admin' }
  /** A join token: may register, heartbeat, watch and obtain a certificate as its own service only. */
  | { kind: 'join'; tokenId: string; service: string; namespace: string }
  /**
   * A viewer token (the dashboard, read-only CLI views): GET requests only. It is no workload identity:
   * a link to the dashboard shared with someone must not let them join the mesh.
   */
  | { kind: 'viewer'; tokenId: string };

export const ADMIN: Principal = Object.freeze({ kind: 'admin' });

/** What a route needs: nothing, any valid token, or the admin token. */
export type AuthLevel = 'none' | 'any' | 'admin';

export function describePrincipal(p: Principal | undefined): string {
  if (!p) return 'anonymous';
  if (p.kind === 'viewer') return `viewer(${p.tokenId})`;
  return p.kind === 'admin' ? 'admin' : `join:${p.namespace}/${p.service}(${p.tokenId})`;
}
