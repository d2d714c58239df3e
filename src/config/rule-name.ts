/**
 * A rule's name when it has none (`<route>.<index>`): what metrics, logs and the per-route stats call it.
 * Apart from the Route schema (./resources.ts re-exports it): `hyphae get routes -o wide` prints it without zod.
 */
export function defaultRuleName(route: string, index: number): string {
  return `${route}.${index}`;
}
