/**
 * `x-forwarded-client-cert` as Envoy writes it (its HTTP header manipulation
 * docs): `;`-separated `Key=value` pairs about the client certificate of the
 * connection the request came in on. We set `By` (the proxy's own URI SAN:
 * the workload's SPIFFE ID), `Hash` (SHA-256 of the client certificate's DER,
 * hex) and `URI` (the client's SPIFFE ID), the keys Istio's sidecars send,
 * so an application written against Envoy's header reads ours unchanged.
 *
 * Only from the VERIFIED peer (getPeer, set by the mTLS front from a
 * certificate that chained to the mesh's roots): a plaintext request gets no
 * header at all, and the same name from the wire never reaches the app.
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';
import type { TLSSocket } from 'node:tls';
import { getPeer } from '../server/peer.js';

export const XFCC_HEADER = 'x-forwarded-client-cert';

/** One hash per connection, not per request: keep-alive callers send many requests on one. */
const hashes = new WeakMap<object, string>();

function certificateHash(socket: TLSSocket): string | undefined {
  let hash = hashes.get(socket);
  if (hash !== undefined) return hash;
  const raw = socket.getPeerX509Certificate?.()?.raw;
  if (raw === undefined) return undefined;
  hash = createHash('sha256').update(raw).digest('hex');
  hashes.set(socket, hash);
  return hash;
}

/** The header's value for this request, or undefined when its connection has no verified peer. */
export function xfccValue(req: http.IncomingMessage, by: string | undefined): string | undefined {
  const peer = getPeer(req);
  if (peer === undefined) return undefined;
  const hash = certificateHash(req.socket as TLSSocket);
  return `${by === undefined ? '' : `By=${by};`}${hash === undefined ? '' : `Hash=${hash};`}URI=${peer.id}`;
}
