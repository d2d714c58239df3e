/** Names that arrive in paths and query strings, checked with the same rules as in bodies. */
import { DEFAULT_NAMESPACE, nameSchema } from '../../config/names.js';
import { gatewayRef, isGatewayRef, parseGatewayRef, parseServiceRef, serviceRef } from '../../config/wire.js';
import type { ValidationIssue } from '../../config/validate.js';
import { badRequest } from '../http/http-error.js';
import { invalid } from '../http/validation.js';

export function checkName(value: string, what: string): string {
  const r = nameSchema.safeParse(value);
  if (!r.success) throw badRequest(`invalid ${what} "${value.slice(0, 100)}": ${r.error.issues[0]?.message ?? 'not a valid name'}`);
  return value;
}

/** An optional single-valued query parameter. */
export function queryName(query: URLSearchParams, key: string): string | undefined {
  const all = query.getAll(key);
  if (all.length === 0) return undefined;
  if (all.length > 1) throw badRequest(`query parameter "${key}" is given ${all.length} times; give it once`);
  return checkName(all[0]!, key);
}

/**
 * Watch keys to their canonical form, deduplicated: service references (`name` or `namespace/name`) to
 * `namespace/name`, gateways (`Gateway/name` or `Gateway/namespace/name`) to `Gateway/namespace/name`;
 * every bad one is listed, with `field[i]` as its path.
 */
export function parseRefs(refs: readonly string[], field: string): string[] {
  const { services, issues } = checkRefs(refs, field);
  if (issues.length > 0) throw invalid(`service references in ${field}`, issues);
  return services;
}

export function checkRefs(refs: readonly string[], field: string): { services: string[]; issues: ValidationIssue[] } {
  const issues: ValidationIssue[] = [];
  const out = new Set<string>();
  refs.forEach((ref, i) => {
    if (isGatewayRef(ref)) {
      const gw = parseGatewayRef(ref, DEFAULT_NAMESPACE);
      if (gw) out.add(gatewayRef(gw.namespace, gw.name));
      else issues.push({ path: `${field}[${i}]`, message: `"${ref.slice(0, 159)}" is not a gateway reference: use "Gateway/<name>" or "Gateway/<namespace>/<name>"` });
      return;
    }
    const parsed = parseServiceRef(ref, DEFAULT_NAMESPACE);
    if (parsed) out.add(serviceRef(parsed.namespace, parsed.name));
    else {
      issues.push({
        path: `${field}[${i}]`,
        message: `"${ref.slice(0, 127)}" is not a service reference: use "<name>" or "<namespace>/<name>", each a lower-case DNS label`,
      });
    }
  });
  return { services: [...out], issues };
}
