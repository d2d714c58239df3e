/**
 * Instance and resource labels, with Kubernetes' syntax and length rules
 * (apimachinery's IsQualifiedName and IsValidLabelValue), so that labels copied
 * from a pod's metadata work unchanged and nothing longer or stranger reaches
 * the registry, every watcher's snapshot and every client's subset matcher.
 *
 * - key: an optional prefix, a DNS subdomain (lower case, at most 253
 *   characters) followed by "/", then a name of at most 63 characters:
 *   letters, digits, "-", "_", ".", starting and ending with a letter or digit;
 * - value: empty, or at most 63 characters of the same alphabet and shape;
 * - at most 64 labels per instance or resource: a registration is copied to
 *   every watcher of its service, so its size multiplies (issue 13: 570
 *   instances with 6,000 labels each took the control plane to 805 MB).
 */
import { z } from 'zod';

export const MAX_LABELS = 64;
export const MAX_LABEL_NAME_LENGTH = 63;
export const MAX_LABEL_PREFIX_LENGTH = 253;
export const MAX_LABEL_VALUE_LENGTH = 63;
/** Past this many labels, listing a problem per label would only make the answer as large as the abuse. */
const MAX_LISTED = MAX_LABELS;

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_RULE = `letters, digits, "-", "_" or ".", starting and ending with a letter or digit`;

/** Why `key` is not a label key, or undefined when it is one. */
export function labelKeyProblem(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return `label key "${clip(key)}" has ${parts.length - 1} "/"; a key is [<DNS subdomain prefix>/]<name>`;
  const name = parts.at(-1)!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix === '') return `label key "${clip(key)}": the prefix before "/" is empty`;
    if (prefix.length > MAX_LABEL_PREFIX_LENGTH) return `label key prefix is ${prefix.length} characters; at most ${MAX_LABEL_PREFIX_LENGTH}`;
    if (!DNS_SUBDOMAIN.test(prefix)) return `label key prefix "${clip(prefix)}" must be a lower-case DNS subdomain (a-z, 0-9, "-" and ".", e.g. app.example.com)`;
  }
  if (name === '') return `label key "${clip(key)}" has an empty name`;
  if (name.length > MAX_LABEL_NAME_LENGTH) return `label key name "${clip(name)}" is ${name.length} characters; at most ${MAX_LABEL_NAME_LENGTH}`;
  if (!NAME.test(name)) return `label key name "${clip(name)}" must be ${NAME_RULE}`;
  return undefined;
}

/** Why `value` is not a label value, or undefined when it is one (the empty string is one). */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > MAX_LABEL_VALUE_LENGTH) return `label value is ${value.length} characters; at most ${MAX_LABEL_VALUE_LENGTH}`;
  if (!NAME.test(value)) return `label value "${clip(value)}" must be empty or ${NAME_RULE}`;
  return undefined;
}

export const labelKeySchema = z.string().superRefine((key, ctx) => {
  const problem = labelKeyProblem(key);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const labelValueSchema = z.string().superRefine((value, ctx) => {
  const problem = labelValueProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** Every problem at the label's own path (`labels.<key>`); the count first, as it is the one to fix first. */
export const labelsSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  const keys = Object.keys(labels);
  if (keys.length > MAX_LABELS) ctx.addIssue({ code: 'custom', message: `${keys.length} labels; at most ${MAX_LABELS} are allowed` });
  let listed = 0;
  let unlisted = 0;
  for (const key of keys) {
    for (const problem of [labelKeyProblem(key), labelValueProblem(labels[key]!)]) {
      if (problem === undefined) continue;
      if (listed < MAX_LISTED) {
        ctx.addIssue({ code: 'custom', message: problem, path: [key] });
        listed++;
      } else unlisted++;
    }
  }
  if (unlisted > 0) ctx.addIssue({ code: 'custom', message: `${unlisted} more label problems not listed` });
});

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
