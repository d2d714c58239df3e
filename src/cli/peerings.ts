/** Peerings as the CLI reads them (`GET /v1/peerings`, admin token): `hyphae cluster peers` and `hyphae status`. */

export interface PeeringRow {
  peer: string;
  direction: string;
  state: string;
  lastSyncAt?: string;
  ageSeconds?: number;
  lastError?: string;
  importedServices?: string[];
  importedInstances?: number;
  gateway?: string;
  streams?: number;
}

/** One line for `hyphae status`: each peering, its direction and state, and for imports their size and age. */
export function peeringsLine(rows: readonly PeeringRow[]): string {
  if (rows.length === 0) return 'none';
  return rows
    .map((r) => {
      const parts = [r.direction, r.state];
      if (r.direction === 'importing') {
        parts.push(`${r.importedServices?.length ?? 0} services, ${r.importedInstances ?? 0} instances`);
        parts.push(r.ageSeconds === undefined ? 'nothing received yet' : `current as of ${r.ageSeconds}s ago`);
      }
      return `${r.peer} (${parts.join(', ')})`;
    })
    .join('; ');
}

/** What needs attention: a link that is not up means what dc1 calls in that cluster ages (fail-static). */
export function peeringWarnings(rows: readonly PeeringRow[]): string[] {
  return rows
    .filter((r) => r.direction === 'importing' && r.state !== 'connected')
    .map((r) => {
      const age = r.ageSeconds === undefined ? 'nothing imported yet' : `imports ${r.ageSeconds}s old, kept as they were`;
      return `the link to ${r.peer} is ${r.state} (${age})${r.lastError ? `: ${r.lastError}` : ''}`;
    });
}
