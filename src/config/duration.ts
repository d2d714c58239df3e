/**
 * The duration grammar and its printing, without zod: the CLI's flags and views read durations too, and
 * loading zod is a large part of a command's start (./duration-schema.ts holds the schema).
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
// Largest first: a component must use a smaller unit than the one before it ("1h30m", not "30m1h").
const ORDER = ['d', 'h', 'm', 's', 'ms'];
const COMPONENT = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/**
 * The one duration grammar of hyphae, for config and command-line flags alike: "250ms", "2s", "1.5m",
 * "24h", "90d", and compounds as Go and the Gateway API write them ("1h30m", "2m30s"). Milliseconds, or
 * undefined when the text is not a duration. A bare number is not one: "30" could be seconds or ms, and
 * the two parsers that once guessed differently are why this function exists.
 */
export function parseDuration(text: string): number | undefined {
  const v = text.trim();
  if (v === '' || v.length > 64) return undefined;
  let total = 0;
  let last = -1;
  COMPONENT.lastIndex = 0;
  while (COMPONENT.lastIndex < v.length) {
    const m = COMPONENT.exec(v);
    if (!m) return undefined;
    const rank = ORDER.indexOf(m[2]!);
    // One fraction at most, and only alone ("1.5h", not "1.5h30m"): compounds are whole numbers.
    if (rank <= last || (m[1]!.includes('.') && m[0].length !== v.length)) return undefined;
    last = rank;
    total += Number(m[1]) * UNITS[m[2]!]!;
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

export function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
