/**
 * The server side of the mesh (wrapServer, its inbound stack, authorization,
 * drain, the mTLS front: 14 modules), loaded by the first wrapServer, so that
 * a process that only calls never loads it (bench/rss.ts). Loaded with
 * require(), not import(), because wrapServer is synchronous: every Node the
 * package supports (`engines`) requires an ES module without a flag, and gets
 * the same instance an import would.
 */
import { createRequire } from 'node:module';

type WrapServerModule = typeof import('../server/wrap-server.js');

let loaded: WrapServerModule | undefined;

export function serverModule(): WrapServerModule {
  return (loaded ??= createRequire(import.meta.url)('../server/wrap-server.js') as WrapServerModule);
}

type TapModule = typeof import('../server/tap.js');

let tap: TapModule | undefined;

/** The tap point's module (`hyphae tap`), loaded with the first wrapServer for the same reason. */
export function tapModule(): TapModule {
  return (tap ??= createRequire(import.meta.url)('../server/tap.js') as TapModule);
}
