/**
 * AuthorizationPolicy, after Istio's: ALLOW and DENY rules on the caller's
 * identity, the (normalized) path, methods and headers. DENY is evaluated
 * before ALLOW; when any ALLOW policy applies to a workload, a request that
 * matches none is denied. Owned by the authorization work (issue 3).
 */
import { z } from 'zod';
import { clusterNameSchema, nameSchema } from '../names.js';
import { API_VERSION, headerNameSchema, httpMethodSchema, metadataSchema } from './metadata.js';

/** `*` (any authenticated peer), an exact SPIFFE ID, or a prefix ending in `*` (`spiffe://td/ns/prod/*`). */
export const principalSchema = z
  .string()
  .min(1)
  .max(2048)
  .refine((p) => p === '*' || (p.startsWith('spiffe://') && !p.slice(0, -1).includes('*')), {
    message: 'must be "*", a SPIFFE ID, or a SPIFFE ID prefix ending in "*" (a "*" anywhere else is not a wildcard)',
  });

/**
 * A path in a policy must already be in the form requests are normalized to
 * (docs/usage.md): a value a request can never take, like `/a/../admin` or
 * `/a%2Fb`, would be a rule that silently never matches — for a DENY, a hole.
 */
export function authzPathProblem(value: string): string | undefined {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return 'control, space and non-ASCII characters must be percent-encoded';
    if (c === 0x3f || c === 0x23) return 'a query or fragment is never part of the matched path';
    if (c === 0x5c) return 'backslashes are refused in requests, so a path with one never matches';
    if (c !== 0x25) continue;
    const hex = value.slice(i + 1, i + 3).toUpperCase();
    if (!/^[0-9A-F]{2}$/.test(hex)) return 'malformed percent-escape';
    if (hex === '2F' || hex === '5C' || hex === '00') return `%${hex} is refused in requests, so a path with it never matches`;
  }
  for (const seg of value.slice(1).split('/').slice(0, -1)) if (seg === '') return '"//" is merged in requests: write one "/"';
  for (const seg of value.slice(1).split('/')) {
    const dots = seg.replace(/%2e/gi, '.');
    if (dots === '.' || dots === '..') return 'dot segments are resolved in requests: write the resolved path';
  }
  return undefined;
}

export const authzPathSchema = z.strictObject({
  /** PathPrefix matches whole segments, and ignores a trailing "/": `/admin` matches `/admin`, `/admin/x`, not `/administrator`. */
  type: z.enum(['Exact', 'PathPrefix']).default('PathPrefix'),
  value: z
    .string()
    .startsWith('/')
    .max(1024)
    .superRefine((v, ctx) => {
      const problem = authzPathProblem(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
});

/**
 * Lists are non-empty and each part sets something: an empty list or `from: {}`
 * reads as "anyone" to some and "no one" to others; we make the author say which.
 * A rule that sets nothing at all (`{}`) matches every request, as in Istio.
 */
const nonEmpty = (part: string) => ({ message: `${part} must set at least one field; leave ${part} out to match any request` });

export const authzRuleSchema = z.strictObject({
  from: z
    .strictObject({
      principals: z.array(principalSchema).min(1).max(64).optional(),
      namespaces: z.array(nameSchema).min(1).max(64).optional(),
      /** The caller's certificate names one of these clusters (issue 17); a certificate that names none never matches. */
      clusters: z.array(clusterNameSchema).min(1).max(64).optional(),
      /** The caller has a verified identity and its certificate names none of these clusters (or names no cluster at all). */
      notClusters: z.array(clusterNameSchema).min(1).max(64).optional(),
    })
    .refine((f) => f.principals !== undefined || f.namespaces !== undefined || f.clusters !== undefined || f.notClusters !== undefined, nonEmpty('from'))
    // A cluster in both lists makes a rule that can never match it: surely not what was meant, and for a DENY a hole.
    .refine((f) => !f.clusters?.some((c) => f.notClusters?.includes(c)), { message: 'a cluster cannot be in both clusters and notClusters' })
    .optional(),
  to: z
    .strictObject({
      paths: z.array(authzPathSchema).min(1).max(64).optional(),
      methods: z.array(httpMethodSchema).min(1).max(16).optional(),
    })
    .refine((t) => t.paths !== undefined || t.methods !== undefined, nonEmpty('to'))
    .optional(),
  when: z
    .strictObject({
      /** Each listed header must be present with one of its values: exact, `prefix*`, `*suffix`, or `*` (present). */
      headers: z
        .array(z.strictObject({ name: headerNameSchema, values: z.array(z.string().max(1024)).min(1).max(64) }))
        .min(1)
        .max(16),
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
