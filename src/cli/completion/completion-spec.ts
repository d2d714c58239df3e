/**
 * What shell completion knows of each command, taken from the command itself:
 * its flags from the parseCommandArgs definitions it parses with, its first
 * words (`ca show|rotate|retire`) from the usage lines its --help prints.
 */
import { declaredOptions, type Command } from '../command.js';
import { OUTPUT_FORMATS, outputOption } from '../output.js';

/** What `-o` takes, offered after it: every command declares it with output.ts's option object. */
export const outputFormatWords: readonly string[] = OUTPUT_FORMATS;

export interface CommandSpec {
  name: string;
  /** Every spelling of every flag: `--filename`, `-f`. */
  flags: string[];
  /** The spellings of the flags that take a value (the next word is that value, not an argument). */
  valueFlags: string[];
  /** The spellings of output.ts's `-o` (its value is one of outputFormatWords, not a file). */
  formatFlags: string[];
  /** Words the first argument may be: sub-commands, kinds. */
  words: string[];
}

/** Declared only to be refused with the replacement named (api-client.ts): never offered. */
const REFUSED = new Set(['token']);

export async function completionSpecs(commands: readonly Command[]): Promise<CommandSpec[]> {
  const specs: CommandSpec[] = [];
  for (const command of commands) {
    const options = (await declaredOptions(command)) ?? {};
    const flags: string[] = [];
    const valueFlags: string[] = [];
    const formatFlags: string[] = [];
    for (const [name, o] of Object.entries(options)) {
      if (REFUSED.has(name)) continue;
      const spellings = [`--${name}`, ...(o.short ? [`-${o.short}`] : [])];
      flags.push(...spellings);
      if (o.type === 'string') valueFlags.push(...spellings);
      if (o === outputOption) formatFlags.push(...spellings);
    }
    specs.push({ name: command.name, flags, valueFlags, formatFlags, words: firstWords(command) });
  }
  return specs;
}

/** `hyphae get routes|services|instances [name]` -> routes, services, instances; a `<placeholder>` or a flag gives none. */
function firstWords(command: Command): string[] {
  const words = new Set<string>();
  const prefix = `hyphae ${command.name} `;
  for (const line of command.usage.split('\n')) {
    const at = line.indexOf(prefix);
    if (at < 0 || !/^(Usage:)?\s*$/.test(line.slice(0, at))) continue;
    const first = line.slice(at + prefix.length).split(/\s+/)[0] ?? '';
    if (!/^[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*$/.test(first)) continue;
    for (const w of first.split('|')) words.add(w);
  }
  return [...words];
}
