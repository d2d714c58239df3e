/** Flag values are strings from the command line: convert them strictly, naming the flag when they are wrong. */
import { parseDuration } from '../config/duration.js';
import { UsageError } from './command.js';

export function intFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

export function numberFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

export function stringFlag(name: string, value: string | undefined): string | undefined {
  if (value !== undefined && value.trim() === '') throw new UsageError(`--${name} must not be empty`);
  return value;
}

const UNITS: [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/** A duration in the config's grammar (config/duration.ts: "30s", "10m", "1h30m", "90d"), to milliseconds. */
export function durationFlag(name: string, value: string | undefined, minMs: number, maxMs: number): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined || ms < minMs || ms > maxMs) {
    // A bare number once meant seconds here and milliseconds in YAML: now it is refused in both, with the fix.
    const unitless = ms === undefined && /^\s*\d+(\.\d+)?\s*$/.test(value) ? ` (no unit: write ${value.trim()}s or ${value.trim()}ms)` : '';
    throw new UsageError(`--${name} must be a duration such as 30s, 10m, 1h30m or 90d, from ${readable(minMs)} to ${readable(maxMs)}, got "${value}"${unitless}`);
  }
  return ms;
}

/** A bound in the largest unit that divides it: 100ms, 1s, 10m, 365d. */
function readable(ms: number): string {
  for (const [unit, size] of UNITS) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return ms === 0 ? '0s' : `${ms}ms`;
}
