/**
 * The DNS label rule (RFC 1123, as Kubernetes names services and namespaces), without zod: the CLI checks
 * names and a response's cluster header with it, and loading zod is a large part of a command's start.
 * ./names.ts builds the schemas on it.
 */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS_LABEL_MAX = 63;
export const DNS_LABEL_MESSAGE = 'must be a lower-case DNS label: a-z, 0-9 and "-", starting and ending with a letter or digit';

export function isDnsLabel(value: string): boolean {
  return value.length >= 1 && value.length <= DNS_LABEL_MAX && DNS_LABEL.test(value);
}
