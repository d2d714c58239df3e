/** How commands print: aligned tables for people, JSON or YAML for tools. */
import { stringify } from 'yaml';
import { UsageError } from './command.js';

export type OutputFormat = 'table' | 'json' | 'yaml';

export function outputFormat(value: string | undefined): OutputFormat {
  if (value === undefined) return 'table';
  if (value === 'json' || value === 'yaml') return value;
  throw new UsageError(`-o must be json or yaml, got "${value}"`);
}

/** Columns padded to the widest cell; the header in upper case, as kubectl prints. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** Several YAML documents, separated by `---`, so that the output can be applied again. */
export function yamlDocuments(values: readonly unknown[]): string {
  return values.map((v) => stringify(v, { lineWidth: 0 })).join('---\n');
}

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
