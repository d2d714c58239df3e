/**
 * A response the peer's MESH answered itself, before its application ran
 * (load shedding, an exhausted deadline), says so in this header. The client
 * reads it to know that the request was not processed: a shed request may be
 * retried elsewhere whatever its method (as a connect failure may), and such
 * answers are not held against the endpoint's health.
 */
export const REFUSED_HEADER = 'x-hyphae-rejected';

export type RefusalReason = 'shed' | 'deadline';
