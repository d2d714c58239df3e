/**
 * How a workload certificate says which cluster issued it (issue 17): the
 * issuing control plane writes its cluster as the one attribute of the
 * leaf's subject, an OU (`OU=dc1`), and the peer reads it back from there.
 *
 * Why the subject's OU. With one trust domain the SPIFFE ID is the same in
 * every cluster, and the URI SAN must stay the only one (a second URI SAN is
 * refused by every SPIFFE verifier, ours included). The subject is free: a
 * hyphae leaf has no CN (issue.ts says why), and an OU is never taken for a
 * host name by a TLS client, so it adds no way to pose as a server. No
 * private extension either, which other tools would show as opaque bytes.
 *
 * Why a leaf's word is enough. Every intermediate under the shared root may
 * sign any SPIFFE ID of the trust domain: a dc2 CA that stamped `dc1` could as
 * well have signed dc1's `web` itself. The cluster is therefore exactly as
 * trustworthy as the identity beside it, and is verified the same way (the
 * chain to a root of the bundle). Reading it off the issuing intermediate
 * instead would add nothing while operators name intermediates as they like.
 *
 * Read strictly: the subject must be exactly one OU holding a cluster name (a
 * DNS label). Anything else (an older CA's empty subject, a foreign CA's CN or
 * several attributes) is no cluster at all: undefined, never a guess.
 */
import type { X509Certificate } from 'node:crypto';

const CLUSTER = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const STAMP = /^OU=([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)$/;

/** The OU value for `cluster`; throws on a name that is not a cluster name (the options were validated: a bug). */
export function clusterStamp(cluster: string): string {
  if (!CLUSTER.test(cluster)) throw new Error(`refusing to stamp an invalid cluster name ${JSON.stringify(cluster.slice(0, 100))} into a certificate`);
  return cluster;
}

/** The cluster a workload certificate names, or undefined when it names none (see above). */
export function clusterOf(cert: Pick<X509Certificate, 'subject'>): string | undefined {
  // Node gives undefined, not '', for an empty subject (whatever its typings say).
  return STAMP.exec((cert.subject as string | undefined) ?? '')?.[1];
}
