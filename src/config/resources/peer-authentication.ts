/**
 * PeerAuthentication: how a workload accepts connections. STRICT (mTLS only,
 * the default once a CA exists), PERMISSIVE (plaintext and mTLS on one port,
 * for migrations) or DISABLE. Owned by the mTLS work (issue 3).
 */
import { z } from 'zod';
import { nameSchema } from '../names.js';
import { API_VERSION, metadataSchema } from './metadata.js';

export const mtlsModeSchema = z.enum(['STRICT', 'PERMISSIVE', 'DISABLE']);
export type MtlsMode = z.output<typeof mtlsModeSchema>;

export const peerAuthenticationSpecSchema = z.strictObject({
  /** The service it applies to; the namespace-wide default when absent. */
  selector: z.strictObject({ service: nameSchema }).optional(),
  mode: mtlsModeSchema,
});

export const peerAuthenticationResourceSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('PeerAuthentication'),
  metadata: metadataSchema,
  spec: peerAuthenticationSpecSchema,
});

export type PeerAuthenticationResource = z.output<typeof peerAuthenticationResourceSchema>;
