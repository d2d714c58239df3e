/**
 * How commands print: aligned tables for people (`-o wide`: with more columns), JSON or YAML for tools.
 * Every read command takes its `-o` from here, so the flag, its values, its help line and its errors are
 * the same everywhere (and shell completion offers the values: completion/completion-spec.ts).
 * yaml is imported when YAML is printed, not with this module: every command prints through here, few
 * print YAML, and loading yaml is a large part of a command's start.
 */
import { UsageError } from './command.js';

export type OutputFormat = 'table' | 'wide' | 'json' | 'yaml';

/** The values `-o` takes (a table is the default, with no name). */
export const OUTPUT_FORMATS = ['json', 'yaml', 'wide'] as const;

/** The `-o` option itself: one object, which completion recognises to offer OUTPUT_FORMATS after it. */
export const outputOption = { type: 'string', short: 'o' } as const;

/** `-o, --output`; with `json: true`, also `--json` (an alias of `-o json`, kept where a command had it). */
export function outputFlags(): { output: typeof outputOption };
export function outputFlags(withJson: true): { output: typeof outputOption; json: { type: 'boolean' } };
export function outputFlags(withJson = false): Record<string, unknown> {
  return withJson ? { output: outputOption, json: { type: 'boolean' } } : { output: outputOption };
}

/** The help lines of outputFlags(); `shape` says what JSON and YAML hold, `wide` what -o wide adds. */
export function outputUsage(shape: string, wide = 'the same table', withJson = false): string {
  const lines = [`  -o, --output <format>  json or yaml: ${shape}; wide: ${wide}`];
  if (withJson) lines.push('  --json                 the same as -o json');
  return lines.join('\n');
}

/** The format asked for by `-o` (and `--json`); anything else is a usage error (exit 2). */
export function outputFormat(values: { output?: string | undefined; json?: boolean | undefined }): OutputFormat {
  const { output, json } = values;
  if (output !== undefined && !(OUTPUT_FORMATS as readonly string[]).includes(output)) {
    throw new UsageError(`-o must be one of ${OUTPUT_FORMATS.join(', ')}, got "${output}"`);
  }
  if (json === true) {
    if (output !== undefined && output !== 'json') throw new UsageError(`--json and -o ${output} ask for two formats: give one`);
    return 'json';
  }
  return (output as OutputFormat | undefined) ?? 'table';
}

/** Write `value` as JSON or YAML and say so; false for the table formats, which the command prints itself. */
export async function printData(format: OutputFormat, value: unknown): Promise<boolean> {
  if (format === 'json') process.stdout.write(json(value));
  else if (format === 'yaml') process.stdout.write(await toYaml(value));
  else return false;
  return true;
}

/**
 * Columns padded to the widest cell, the header in upper case; kubectl's three spaces between columns,
 * or linkerd's two (`gap`) for the live views. Ends with a newline.
 */
export function table(header: string[], rows: string[][], gap = 3): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const sep = ' '.repeat(gap);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join(sep)
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** Several YAML documents, separated by `---`, so that the output can be applied again. */
export async function yamlDocuments(values: readonly unknown[]): Promise<string> {
  const { stringify } = await import('yaml');
  return values.map((v) => stringify(v, { lineWidth: 0 })).join('---\n');
}

export async function toYaml(value: unknown): Promise<string> {
  const { stringify } = await import('yaml');
  return stringify(value, { lineWidth: 0 });
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
