/**
 * What the tls layer needs from whoever signs its certificates. The tls layer
 * may not import discovery (DESIGN dependency direction), so it declares the
 * interface and src/mesh wires the control-plane client into it.
 */
export interface TrustBundle {
  trustDomain: string;
  /** Grows with every change; a bundle with a lower version than the one held is stale. */
  version: number;
  /** PEM of every root a peer's chain may end at (several during a root rotation). */
  roots: readonly string[];
}

export interface SignedCertificate {
  /** PEM of the leaf. */
  certificate: string;
  /** PEM of intermediates between the leaf and a root (empty when a root signs leaves). */
  chain: readonly string[];
  trustBundle: TrustBundle;
}

export interface CertificateSigner {
  /** Sign a PEM CSR for this workload's identity; rejects when the CA cannot be reached or refuses. */
  sign(csr: string): Promise<SignedCertificate>;
}
