/**
 * The control plane's API paths, apart from the wire schemas (./wire.ts, which re-exports them): a mesh
 * process or a CLI command that needs a path alone must not load zod and build every schema.
 */
export const API_PREFIX = '/v1';

/** The watch stream (Server-Sent Events). */
export const WATCH_PATH = `${API_PREFIX}/watch`;

/**
 * Where every mesh process posts its stats (the body: config/stats.ts). Here rather than beside the
 * stats schemas: a mesh process needs the path alone, and importing stats.ts would build its schemas
 * (~0.35 MiB of heap) in every process for the control plane's validation.
 */
export const STATS_PATH = `${API_PREFIX}/stats`;
