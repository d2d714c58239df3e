import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Durations as people write them in config ("250ms", "2s", "1.5m", "1h"), as
 * Istio and the Gateway API do; parsed to milliseconds. A bare number is ms.
 */
export function durationSchema(opts: { min?: number; max?: number } = {}) {
  const { min = 0, max = 24 * 3_600_000 } = opts;
  return z.union([z.number(), z.string()]).transform((v, ctx) => {
    let ms: number;
    if (typeof v === 'number') {
      ms = v;
    } else {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v.trim());
      if (!m) {
        ctx.addIssue({ code: 'custom', message: `must be a duration like "250ms", "2s", "1m" or "1h", got "${v}"` });
        return z.NEVER;
      }
      ms = Number(m[1]) * UNITS[m[2]!]!;
    }
    if (!Number.isFinite(ms) || ms < min || ms > max) {
      ctx.addIssue({ code: 'custom', message: `must be between ${formatMs(min)} and ${formatMs(max)}` });
      return z.NEVER;
    }
    return Math.round(ms);
  });
}

export function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
