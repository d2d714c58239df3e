/** The route-level check (none / any token / admin token) and the per-identity one inside handlers. */
import type { IncomingMessage } from 'node:http';
import { forbidden } from '../http/http-error.js';
import type { AuthLevel, Principal } from './principal.js';
import type { Tokens } from './tokens.js';

export function authorize(tokens: Tokens, level: AuthLevel, req: IncomingMessage): Principal | undefined {
  if (level === 'none') return undefined;
  const principal = tokens.authenticate(req.headers.authorization);
  // By method, not by route: a write route added later is closed to viewers without anyone remembering to.
  if (principal.kind === 'viewer' && (level === 'admin' || (req.method !== 'GET' && req.method !== 'HEAD'))) {
    throw forbidden(`viewer token ${principal.tokenId} is read-only: it may read (GET) the registry, the configuration and the stats, nothing else`);
  }
  if (level === 'admin' && principal.kind === 'join') {
    throw forbidden(
      `this endpoint needs the admin token; join token ${principal.tokenId} (for ${principal.namespace}/${principal.service}) may only register, heartbeat, watch, read and obtain its own certificate`,
    );
  }
  return principal;
}

/** A join token acts only as its own service; the admin token as any. */
export function requireIdentity(principal: Principal | undefined, namespace: string, service: string, action: string): void {
  if (principal?.kind === 'admin') return;
  if (!principal) throw forbidden(`a token is needed to ${action} ${namespace}/${service}`);
  if (principal.kind === 'viewer') throw forbidden(`viewer token ${principal.tokenId} is read-only; it may not ${action} ${namespace}/${service}`);
  if (principal.namespace === namespace && principal.service === service) return;
  throw forbidden(`join token ${principal.tokenId} is for ${principal.namespace}/${principal.service}; it may not ${action} ${namespace}/${service}`);
}
