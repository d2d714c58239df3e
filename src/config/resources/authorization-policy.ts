/**
 * AuthorizationPolicy, after Istio's: ALLOW and DENY rules on the caller's
 * identity, the (normalized) path, methods and headers. DENY is evaluated
 * before ALLOW; when any ALLOW policy applies to a workload, a request that
 * matches none is denied. Owned by the authorization work (issue 3).
 */
import { z } from 'zod';
import { nameSchema } from '../names.js';
import { API_VERSION, headerNameSchema, httpMethodSchema, metadataSchema } from './metadata.js';

/** `*` (any authenticated peer), an exact SPIFFE ID, or a prefix ending in `*` (`spiffe://td/ns/prod/*`). */
export const principalSchema = z.string().min(1).max(2048);

export const authzPathSchema = z.strictObject({
  type: z.enum(['Exact', 'PathPrefix']).default('PathPrefix'),
  value: z.string().startsWith('/').max(1024),
});

export const authzRuleSchema = z.strictObject({
  from: z
    .strictObject({
      principals: z.array(principalSchema).max(64).optional(),
      namespaces: z.array(nameSchema).max(64).optional(),
    })
    .optional(),
  to: z
    .strictObject({
      paths: z.array(authzPathSchema).max(64).optional(),
      methods: z.array(httpMethodSchema).max(16).optional(),
    })
    .optional(),
  when: z
    .strictObject({
      headers: z.array(z.strictObject({ name: headerNameSchema, values: z.array(z.string().max(1024)).min(1).max(64) })).max(16),
    })
    .optional(),
});

export const authorizationPolicySpecSchema = z.strictObject({
  /** The workload (service) the policy protects; every service in the namespace when absent. */
  selector: z.strictObject({ service: nameSchema }).optional(),
  action: z.enum(['ALLOW', 'DENY']),
  /** A request matches the policy when it matches any rule; a rule matches when all its parts match. */
  rules: z.array(authzRuleSchema).max(64).default([]),
});

export const authorizationPolicyResourceSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('AuthorizationPolicy'),
  metadata: metadataSchema,
  spec: authorizationPolicySpecSchema,
});

export type AuthorizationPolicySpec = z.output<typeof authorizationPolicySpecSchema>;
export type AuthorizationPolicyResource = z.output<typeof authorizationPolicyResourceSchema>;
