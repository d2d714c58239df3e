/**
 * TLS sessions the mesh's mTLS clients may resume, so a new connection to an
 * instance already verified costs a PSK exchange instead of a full handshake
 * (the RSA signatures on both sides and two chain checks: ~3x the CPU). It
 * matters when connections are re-made often: servers that close idle
 * connections, `connection: close` answers, reconnect storms after a restart.
 *
 * What a resumed connection proves: the server holds the key of the ticket it
 * issued on a connection where its certificate was checked (chain and SPIFFE
 * ID). Node gives a resuming client no certificate and does not call
 * checkServerIdentity, so the check is carried by what a session is filed
 * under, never redone:
 * - the client's SecureContext (a WeakMap key): a new certificate or trust
 *   bundle makes a new context, and every session of the old one is dropped;
 * - the expected SPIFFE ID, the address, the SNI and the ALPN list: a session
 *   is offered only for the identity it was verified against;
 * - a lifetime: the server's certificate's notAfter, and at most
 *   MAX_AGE_MS (Node's servers issue tickets for 300 s), so an expired
 *   certificate is never carried on by a session.
 * A server that cannot decrypt the ticket (another process at that address, a
 * rotated server: its new context has new ticket keys) answers with a full
 * handshake, which is checked as always.
 */
import type { SecureContext } from 'node:tls';

const MAX_AGE_MS = 300_000;
/** Per client context: one entry per endpoint, the oldest evicted past this (a session is ~2 KB). */
const MAX_ENTRIES = 4096;

interface Entry {
  session: Buffer;
  until: number;
}

export class TlsSessionCache {
  #byContext = new WeakMap<SecureContext, Map<string, Entry>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A session to offer for `key`, if one is held and still within its lifetime. */
  get(context: SecureContext, key: string): Buffer | undefined {
    const entries = this.#byContext.get(context);
    const entry = entries?.get(key);
    if (!entry) return undefined;
    if (this.#now() >= entry.until) {
      entries!.delete(key);
      return undefined;
    }
    return entry.session;
  }

  /** Files a session from a connection whose server was verified as `key`'s identity; `notAfter` is its certificate's. */
  set(context: SecureContext, key: string, session: Buffer, notAfter: number): void {
    const until = Math.min(this.#now() + MAX_AGE_MS, notAfter);
    if (!(until > this.#now())) return;
    let entries = this.#byContext.get(context);
    if (!entries) this.#byContext.set(context, (entries = new Map()));
    // Re-inserted at the end: the Map's order is the eviction order.
    entries.delete(key);
    entries.set(key, { session, until });
    if (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!);
  }

  /** A connection offered `key`'s session and failed: offer none next time. */
  drop(context: SecureContext, key: string): void {
    this.#byContext.get(context)?.delete(key);
  }
}

/** What a session is filed under, beside the client context: the identity checked, where, and how. */
export function sessionKey(expected: string, host: string, port: string | number, servername: string | undefined, alpn: readonly string[]): string {
  return `${expected} ${host}:${port} ${servername ?? ''} ${alpn.join(',')}`;
}
