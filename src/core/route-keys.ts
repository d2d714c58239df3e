/**
 * How per-route stats name what they count, agreed by the runtime (telemetry's edge stats), the
 * control plane (validation and summary) and the CLI: a rule of a Route as `namespace/name` and the
 * rule's name; calls no Route steered as `[default]` (linkerd's word); and, past the cap on distinct
 * rules one edge counts, every other rule folded into `[other]`. Brackets are not allowed in resource
 * names, so the two can never be a Route's key.
 */
export const DEFAULT_ROUTE = '[default]';
export const OTHER_ROUTES = '[other]';
/**
 * Distinct route rules one edge (caller -> destination) counts apart; more fold into `[other]`. A report
 * then carries at most this many rows per edge, plus `[default]` and `[other]`.
 */
export const MAX_ROUTES_PER_EDGE = 32;
