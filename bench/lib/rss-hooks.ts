/**
 * Module hooks for bench/lib/rss-child.ts, registered by rss-register.ts: every
 * URL the ES module loader loads is appended to a file, since an ES module,
 * unlike a CommonJS one, leaves no trace in require.cache.
 */
import { appendFileSync } from 'node:fs';

let file: string | undefined;

export function initialize(data: { file: string }): void {
  file = data.file;
}

export async function load(url: string, context: unknown, nextLoad: (url: string, context: unknown) => Promise<unknown>): Promise<unknown> {
  if (file) appendFileSync(file, `${url}\n`);
  return nextLoad(url, context);
}
