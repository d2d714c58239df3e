/**
 * The forwarding headers a gateway sends on (RFC 7239 `Forwarded`, and the
 * de-facto X-Forwarded-For / X-Forwarded-Proto), from what it saw itself and
 * what it may believe of the client's: the last `trustedHops` entries of the
 * incoming lists were appended by proxies in front of the gateway, which are
 * trusted (Envoy's xff_num_trusted_hops); everything before them was written
 * by the client, and is dropped, so the leftmost entry a backend reads is
 * always one a trusted hop or the gateway itself wrote. With 0 trusted hops
 * the lists are replaced by the peer's address.
 */
import type http from 'node:http';

/** Fields the gateway writes itself: never forwarded as the client sent them. */
export const FORWARDED_FIELDS: readonly string[] = ['x-forwarded-for', 'x-forwarded-proto', 'forwarded'];

function lastEntries(value: string | string[] | undefined, n: number): string[] {
  if (n === 0 || value === undefined) return [];
  const all: string[] = [];
  for (const line of Array.isArray(value) ? value : [value]) {
    for (const part of line.split(',')) {
      const t = part.trim();
      if (t !== '') all.push(t);
    }
  }
  return all.length <= n ? all : all.slice(all.length - n);
}

/** The peer's address as a backend reads it: an IPv4-mapped IPv6 address as plain IPv4. */
function peerAddress(req: http.IncomingMessage): string {
  const a = req.socket.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** `for=` of a Forwarded element: an IPv6 address quoted in brackets (RFC 7239 6). */
function node(address: string): string {
  return address.includes(':') ? `"[${address}]"` : address;
}

/** [name, value, ...] to append to the forwarded request. */
export function forwardedHeaders(req: http.IncomingMessage, proto: 'http' | 'https', trustedHops: number): string[] {
  const peer = peerAddress(req);
  const xff = lastEntries(req.headers['x-forwarded-for'], trustedHops);
  xff.push(peer);
  const fwd = lastEntries(req.headers.forwarded, trustedHops);
  fwd.push(`for=${node(peer)};proto=${proto}`);
  // The scheme the client used is known only to the first hop: believed from a trusted one, ours otherwise.
  const incomingProto = trustedHops > 0 ? lastEntries(req.headers['x-forwarded-proto'], 1)[0] : undefined;
  const xfp = incomingProto === 'http' || incomingProto === 'https' ? incomingProto : proto;
  return ['x-forwarded-for', xff.join(', '), 'x-forwarded-proto', xfp, 'forwarded', fwd.join(', ')];
}
