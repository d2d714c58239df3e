/**
 * How a client learns the cluster of the control plane it talks to (issue 17): a response header on every
 * /v1 answer, not a field of the watch hello or of a snapshot. Those wire schemas are strict, so a new
 * field would break every client older than it; an unknown header breaks none. An older control plane
 * sends no header, and its clients' cluster stays unknown. A cluster's name is a DNS label (names.ts's
 * clusterNameSchema), checked here without zod: every CLI command reads this header.
 */
import { isDnsLabel } from './dns-label.js';

export const CLUSTER_HEADER = 'hyphae-cluster';

/** The cluster a response names, or undefined when it names none or a malformed one (never trusted as is). */
export function clusterFromHeader(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && isDnsLabel(value) ? value : undefined;
}
