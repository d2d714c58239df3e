import type { z } from 'zod';
import { ErrorCode, MeshError, type ErrorCodeValue } from '../core/errors.js';

export interface ValidationIssue {
  /** Dotted path to the field, e.g. `spec.rules[0].matches[1].path.value`; empty for the whole value. */
  path: string;
  message: string;
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out;
}

/**
 * Every zod issue as { path, message }. An unknown field is reported at its
 * own path ("spec.zzz: unknown field") rather than once at its parent, and a
 * wrong `kind` names the kinds that exist: both are what a person fixing a
 * document looks for first.
 */
export function toIssues(error: z.ZodError, prefix = ''): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const at = (path: readonly PropertyKey[]) => {
    const p = formatPath(path);
    return prefix && p ? `${prefix}${p.startsWith('[') ? '' : '.'}${p}` : prefix || p;
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: at([...issue.path, key]), message: 'unknown field' });
    } else if (issue.code === 'invalid_union' && issue.path.at(-1) === 'kind' && 'options' in issue) {
      const options = (issue as { options?: unknown[] }).options ?? [];
      out.push({ path: at(issue.path), message: `must be one of: ${options.map(String).join(', ')}` });
    } else {
      out.push({ path: at(issue.path), message: issue.message });
    }
  }
  return out;
}

export function describeIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
}

/** Parse or throw a MeshError listing every problem, not just the first. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, code: ErrorCodeValue = ErrorCode.INVALID_CONFIG): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = toIssues(result.error);
  throw new MeshError(code, `invalid ${what}: ${describeIssues(issues)}`, { details: { issues }, rejected: true });
}
