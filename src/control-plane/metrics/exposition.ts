/**
 * The Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): one `# HELP` and one `# TYPE` line per
 * family, then one line per sample; UTF-8, `\n` line endings, the last line ended too.
 */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Label values may hold anything: backslash, double quote and line feed are the three the format escapes. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** HELP text escapes backslash and line feed only (a quote is plain text there). */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

/** `{a="x",b="y"}`, or '' without labels. Names are ours (fixed identifiers); only values are escaped. */
export function labelString(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  let out = '{';
  for (let i = 0; i < names.length; i++) out += `${i > 0 ? ',' : ''}${names[i]}="${escapeLabelValue(values[i] ?? '')}"`;
  return `${out}}`;
}

/** Go's ParseFloat spellings of the non-finite values, which Prometheus reads. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function familyHeader(name: string, type: MetricType, help: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}
