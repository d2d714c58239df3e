/**
 * Which modules a process loads: module hooks that append the URL of every module the ES loader loads to a
 * file (an ES module leaves no trace in require.cache; a CommonJS one imported from an ES module is listed
 * too). A probe registers them first thing (registerModuleList); a process a test starts as it is, such as
 * the CLI, gets them from Node's --import flag (moduleListFlags).
 */
import { register } from 'node:module';

const HOOKS = `data:text/javascript,${encodeURIComponent(`
import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function load(url, context, next) { appendFileSync(file, url + '\\n'); return next(url, context); }
`)}`;

export function registerModuleList(file: string): void {
  register(HOOKS, { data: { file } });
}

/** Node options that make a child list its modules in `file`, from before its entry point loads. */
export function moduleListFlags(file: string): string[] {
  const registration = `import { register } from 'node:module'; register(${JSON.stringify(HOOKS)}, { data: { file: ${JSON.stringify(file)} } });`;
  return ['--import', `data:text/javascript,${encodeURIComponent(registration)}`];
}
