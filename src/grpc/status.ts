/**
 * gRPC status names and codes (the names as `retry.on` and the docs write
 * them), read from grpc-js's own enum so the two never disagree.
 */
import { status as Status } from '@grpc/grpc-js';
import { ErrorCode, MeshError } from '../core/errors.js';

const BY_NAME = new Map<string, number>();
const NAMES: string[] = [];
for (const [name, code] of Object.entries(Status)) {
  if (typeof code !== 'number') continue;
  BY_NAME.set(name, code);
  NAMES[code] = name;
}

/** `UNAVAILABLE` for 14; the number as text for a code gRPC does not define (a hostile or newer peer). */
export function statusName(code: number): string {
  return NAMES[code] ?? String(code);
}

/** The codes of status names (`['UNAVAILABLE']` -> {14}); an unknown name is a configuration error. */
export function statusCodes(names: readonly string[]): ReadonlySet<number> {
  const out = new Set<number>();
  for (const name of names) {
    const code = BY_NAME.get(name.toUpperCase());
    if (code === undefined) {
      throw new MeshError(ErrorCode.INVALID_OPTIONS, `retry.on: "${name}" is not a gRPC status name (${[...BY_NAME.keys()].join(', ')})`, {
        details: { option: 'retry.on', value: name },
      });
    }
    out.add(code);
  }
  return out;
}
