/**
 * Sends this process's traffic stats to the control plane every few seconds
 * (POST /v1/stats), for the live views. Best effort: a report that cannot be
 * delivered is dropped (the next one covers only its own interval), a failure
 * is logged once until reports get through again, and nothing here can slow
 * or fail a request.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../core/logger.js';
import type { StatsReportInput } from '../config/stats.js';
import { STATS_PATH } from '../config/wire.js';
import type { ControlPlaneClient } from './control-plane-client.js';

/** The part of a report the telemetry produces (MeshTelemetry.takeStats() fits it). */
export type StatsBody = Omit<StatsReportInput, 'reporter' | 'service' | 'namespace' | 'instances'>;

export const DEFAULT_STATS_INTERVAL_MS = 2_000;

export interface StatsReporterOptions {
  service: string | undefined;
  namespace: string;
  /** The ids of the instances this process serves now (registered servers). */
  instances: () => string[];
  intervalMs?: number;
  logger: Logger;
}

export class StatsReporter {
  /** Random per process: the control plane tells reporters apart by it. */
  readonly id = randomBytes(12).toString('base64url');
  #client: ControlPlaneClient;
  #take: () => StatsBody;
  #options: StatsReporterOptions;
  #timer: NodeJS.Timeout | undefined;
  #sending: Promise<void> | undefined;
  #failing = false;
  #closed = false;

  constructor(client: ControlPlaneClient, take: () => StatsBody, options: StatsReporterOptions) {
    this.#client = client;
    this.#take = take;
    this.#options = options;
  }

  start(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => void this.flush(), this.#options.intervalMs ?? DEFAULT_STATS_INTERVAL_MS);
    // Reports must not keep a process alive on their own.
    this.#timer.unref();
  }

  /** Send what happened since the last report (one report at a time; a tick during a slow one is skipped). */
  flush(): Promise<void> {
    if (this.#sending) return this.#sending;
    this.#sending = this.#send().finally(() => (this.#sending = undefined));
    return this.#sending;
  }

  async #send(): Promise<void> {
    const o = this.#options;
    const report: StatsReportInput = { reporter: this.id, namespace: o.namespace, instances: o.instances(), ...this.#take() };
    if (o.service !== undefined) report.service = o.service;
    try {
      await this.#client.call('POST', STATS_PATH, report);
      if (this.#failing) o.logger.info('hyphae: stats reach the control plane again');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) o.logger.warn('hyphae: could not report stats to the control plane; dropping them until it answers', { error: String(err) });
      this.#failing = true;
    }
  }

  /** Stop, after one last report (bounded by the client's timeout) so a draining instance's final traffic is counted. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#sending;
    await this.flush();
  }
}
