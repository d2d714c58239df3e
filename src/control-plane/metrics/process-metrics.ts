/**
 * The process's own series, named as Prometheus's client libraries name them (prom-client's default
 * metrics, client_golang's process collector), so that the dashboards and alerts written for any
 * Node service work on the control plane unchanged.
 */
import { readdir } from 'node:fs/promises';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { openFileLimit } from '../../core/listener-guard.js';
import { readAtScrape, type Family } from './instruments.js';

const START_TIME_SECONDS = Math.round(Date.now() / 1000 - process.uptime());

/** Descriptors open now, from /proc (Linux); undefined elsewhere, and the series is left out. */
async function openFds(): Promise<number | undefined> {
  try {
    // readdir holds one descriptor of its own on the directory while it reads it.
    return (await readdir('/proc/self/fd')).length - 1;
  } catch {
    return undefined;
  }
}

/** How late a callback queued now runs: prom-client's nodejs_eventloop_lag_seconds, measured at scrape. */
function loopLag(): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => setImmediate(() => resolve(Number(process.hrtime.bigint() - start) / 1e9)));
}

export interface ProcessMetrics {
  families: Family[];
  close(): void;
}

export function processMetrics(): ProcessMetrics {
  // Between scrapes, as prom-client does: the p99 and max of the loop's delay since the last one
  // (the max is read last, and resets the histogram for the next scrape).
  const delay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const seconds = (ns: number) => (delay.count > 0 ? ns / 1e9 : 0);
  const families: Family[] = [
    readAtScrape('process_cpu_user_seconds_total', 'User CPU time spent, in seconds.', () => process.cpuUsage().user / 1e6, 'counter'),
    readAtScrape('process_cpu_system_seconds_total', 'System CPU time spent, in seconds.', () => process.cpuUsage().system / 1e6, 'counter'),
    readAtScrape(
      'process_cpu_seconds_total',
      'User and system CPU time spent, in seconds.',
      () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1e6;
      },
      'counter',
    ),
    readAtScrape('process_resident_memory_bytes', 'Resident memory size, in bytes.', () => process.memoryUsage.rss()),
    readAtScrape('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', () => START_TIME_SECONDS),
    readAtScrape('process_open_fds', 'Open file descriptors.', openFds),
    readAtScrape('process_max_fds', 'The soft limit of open file descriptors.', () => openFileLimit()),
    readAtScrape('nodejs_eventloop_lag_seconds', 'How late a callback queued at scrape time ran, in seconds.', loopLag),
    readAtScrape('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the event loop delay since the last scrape, in seconds.', () => seconds(delay.percentile(99))),
    readAtScrape('nodejs_eventloop_lag_max_seconds', 'The longest event loop delay since the last scrape, in seconds.', () => {
      const max = seconds(delay.max);
      delay.reset();
      return max;
    }),
  ];
  return { families, close: () => delay.disable() };
}
