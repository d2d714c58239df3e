/**
 * The identity a control plane presents as a TLS client on its peering links:
 * `spiffe://<trust domain>/hyphae/cluster/<cluster>/control-plane`. It is outside the workload namespace
 * (`/ns/<ns>/sa/<service>`), so no CSR a workload sends can ever be signed for it (the CA signs workload
 * IDs only, csr-identity.ts), and a peer tells which cluster dialled it from the certificate alone.
 */
export function controlPlaneId(trustDomain: string, cluster: string): string {
  return `spiffe://${trustDomain}/hyphae/cluster/${cluster}/control-plane`;
}
