/**
 * dc2's check of the client certificate on a peering link. The API listener asks every client for a
 * certificate without requiring one (browsers and CLIs carry none), so the TLS layer only verifies
 * what is presented against this control plane's trust bundle; the peering route is where one is
 * required, and where it must name the control plane of the cluster the peering record was made for
 * (../ca/control-plane-id.ts): a dc3 certificate with dc1's secret is refused.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { controlPlaneId } from '../ca/control-plane-id.js';

/** Why the socket's client certificate does not do (for `peer`, or for any peer when undefined); undefined when it does. */
export function linkIdentityProblem(socket: Socket, trustDomain: string | undefined, peer: string | undefined): string | undefined {
  if (!(socket instanceof TLSSocket) || trustDomain === undefined) return 'a peering link needs HTTPS with client certificates: this control plane has no CA';
  if (!socket.authorized) {
    // Node reports a missing certificate as an unverifiable one: tell the two apart for the operator.
    const presented = Object.keys(socket.getPeerCertificate()).length > 0;
    const why = presented ? `refused: ${String(socket.authorizationError)}` : 'none presented';
    return `a peering link needs the dialling control plane's client certificate, verified against this trust bundle (${why})`;
  }
  if (peer === undefined) return undefined;
  const expected = controlPlaneId(trustDomain, peer);
  const uris = uriSans(socket.getPeerCertificate().subjectaltname);
  if (uris.length === 1 && uris[0] === expected) return undefined;
  return `the client certificate names ${uris.length === 0 ? 'no SPIFFE ID' : uris.join(', ').slice(0, 300)}, not ${expected}, the control plane of the cluster this peering was made for`;
}

function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(', ')
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}
