/** Token secrets: random, stored only as SHA-256 digests, compared in constant time. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The shortest admin token or pre-provisioned join-token secret accepted: tokens the control plane makes
 * carry 256 random bits (43+ characters); one an operator chooses must not be guessable (a 2-character
 * token was accepted before). 32 characters is what `openssl rand -hex 16` prints.
 */
export const MIN_SECRET_LENGTH = 32;
export const MAX_SECRET_LENGTH = 512;

export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Constant time in the secret: both sides are 32-byte digests, whatever was presented. */
export function sameDigest(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The log's warning for a secret file group or others may read (writable ones are refused, core/private-file.ts). */
export function readableWarning(where: string): string {
  return `WARNING ${where} can be read by other users; it is a secret: chmod 600 it`;
}
