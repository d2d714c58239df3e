/** Stats reports for tests of the control plane's stats store, summary and history: as the schema reads them. */
import { latencyBucket } from '../../src/core/latency-histogram.js';
import { statsReportSchema, type StatsReportInput } from '../../src/config/stats.js';

/** A report with a one-second interval unless told otherwise. */
export function report(r: Partial<StatsReportInput> & { reporter: string }): ReturnType<typeof statsReportSchema.parse> {
  return statsReportSchema.parse({ intervalMs: 1000, ...r });
}

/** `n` calls of about `ms`, in the wire's sparse histogram form. */
export const hist = (ms: number, n: number): [number, number][] => [[latencyBucket(ms), n]];
