/** Durations in config, as zod schemas: the grammar itself lives in ./duration.ts, which loads no zod. */
import { z } from 'zod';
import { formatMs, parseDuration } from './duration.js';

/**
 * Durations in config: a string in parseDuration's grammar, or a number, which is milliseconds (what
 * `hyphae get -o yaml` and `diff` print, so a stored resource reads back as it was written).
 */
export function durationSchema(opts: { min?: number; max?: number } = {}) {
  const { min = 0, max = 24 * 3_600_000 } = opts;
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    let ms: number;
    if (typeof v === 'number') {
      ms = v;
    } else {
      const parsed = parseDuration(v);
      if (parsed === undefined) {
        ctx.addIssue({ code: 'custom', message: durationMessage(v) });
        return z.NEVER;
      }
      ms = parsed;
    }
    if (!Number.isFinite(ms) || ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `must be between ${formatMs(min)} and ${formatMs(max)}` });
      return z.NEVER;
    }
    return Math.round(ms);
  });
}

/** Why a text is not a duration, with the fix for the commonest slip: a number without its unit. */
function durationMessage(v: string): string {
  const bare = /^\s*\d+(\.\d+)?\s*$/.test(v);
  const shown = JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}...` : v);
  return bare ? `${shown} has no unit: write ${v.trim()}s or ${v.trim()}ms (units: ms, s, m, h, d)` : `must be a duration like "250ms", "2s", "1m30s", "1h" or "90d", got ${shown}`;
}
