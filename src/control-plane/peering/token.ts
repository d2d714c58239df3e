/**
 * The peering token dc2 makes and dc1 uses: what dc1 needs to reach dc2 (its API addresses), to verify
 * it (the roots its HTTPS certificate chains to) and to prove it is the peer dc2 meant (a 256-bit
 * secret, of which dc2 keeps only the SHA-256). One opaque string, to be moved like a password.
 */
import { z } from 'zod';
import { clusterNameSchema } from '../../config/names.js';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { MAX_PEER_ADDRESSES } from './limits.js';

const PREFIX = 'hyphae-peering-v1.';
/** A token is small (a few KiB of PEM); anything longer is not one. */
const MAX_TOKEN_LENGTH = 256 * 1024;

export const peerAddressSchema = z
  .string()
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'https:' && u.username === '' && u.password === '' && (u.pathname === '/' || u.pathname === '') && u.search === '' && u.hash === '';
    } catch {
      return false;
    }
  }, 'must be an https:// URL of a control plane, without path, query or credentials');

export const peeringTokenSchema = z.strictObject({
  /** dc2: the cluster that made the token, the name dc1 gives the peering. */
  cluster: clusterNameSchema,
  /** dc1: the cluster the token was made for. */
  peer: clusterNameSchema,
  addresses: z.array(peerAddressSchema).min(1).max(MAX_PEER_ADDRESSES),
  /** PEM roots dc2's serving certificate chains to (its trust bundle). */
  ca: z
    .string()
    .min(1)
    .max(128 * 1024),
  secret: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
});
export type PeeringToken = z.output<typeof peeringTokenSchema>;

export function encodePeeringToken(token: PeeringToken): string {
  return PREFIX + Buffer.from(JSON.stringify(token), 'utf8').toString('base64url');
}

export function decodePeeringToken(text: string): PeeringToken {
  const s = text.trim();
  if (!s.startsWith(PREFIX) || s.length > MAX_TOKEN_LENGTH) {
    throw new MeshError(ErrorCode.PEERING_TOKEN_INVALID, `not a peering token: it must start with "${PREFIX}" (made by "hyphae cluster peering-token" on the other cluster)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(s.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw new MeshError(ErrorCode.PEERING_TOKEN_INVALID, 'the peering token is damaged (not base64url JSON): copy it again, whole');
  }
  const parsed = peeringTokenSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(token)'}: ${i.message}`).join('; ');
    throw new MeshError(ErrorCode.PEERING_TOKEN_INVALID, `the peering token is not valid: ${issues}`);
  }
  return parsed.data;
}

/** The bearer credential dc1 presents on the link: `<dc1>.<secret>`, looked up by name and compared as digests. */
export function peerCredential(peer: string, secret: string): string {
  return `${peer}.${secret}`;
}
