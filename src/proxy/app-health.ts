/**
 * Whether the application answers, checked as Consul checks a service: a TCP
 * connect to its port, or a GET of a path (2xx or 3xx passes), every interval,
 * each bounded by a timeout. The verdict changes only after `failures`
 * consecutive failed checks (or `successes` passed ones), so one slow answer
 * does not take the instance out of the registry.
 */
import net from 'node:net';
import type { Dispatcher } from 'undici';
import type { HostPort, ResolvedProxyOptions } from './options.js';

export type AppHealthListener = (healthy: boolean, detail: string) => void;

export class AppHealthCheck {
  #upstream: HostPort;
  #options: ResolvedProxyOptions['health'];
  #pool: Dispatcher;
  #listener: AppHealthListener;
  #timer: NodeJS.Timeout | undefined;
  #healthy: boolean | undefined;
  #streak = 0;
  #stopped = false;
  #running: Promise<void> | undefined;

  constructor(upstream: HostPort, options: ResolvedProxyOptions['health'], pool: Dispatcher, listener: AppHealthListener) {
    this.#upstream = upstream;
    this.#options = options;
    this.#pool = pool;
    this.#listener = listener;
  }

  /** The verdict so far: undefined before the first check. */
  get healthy(): boolean | undefined {
    return this.#healthy;
  }

  /** Check now, then every interval. The first check decides at once (there is no verdict to keep yet). */
  start(): Promise<void> {
    return this.#tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #tick(): Promise<void> {
    this.#running = this.#checkOnce().then(() => {
      if (this.#stopped) return;
      this.#timer = setTimeout(() => void this.#tick(), this.#options.intervalMs);
      this.#timer.unref();
    });
    return this.#running;
  }

  async #checkOnce(): Promise<void> {
    const problem = await this.#probe();
    if (this.#stopped) return;
    const passed = problem === undefined;
    if (this.#healthy === undefined) {
      this.#healthy = passed;
      this.#listener(passed, problem ?? 'answering');
      return;
    }
    if (passed === this.#healthy) {
      this.#streak = 0;
      return;
    }
    this.#streak++;
    if (this.#streak < (passed ? this.#options.successes : this.#options.failures)) return;
    this.#streak = 0;
    this.#healthy = passed;
    this.#listener(passed, problem ?? 'answering again');
  }

  /** undefined when the application answered; else what went wrong. */
  #probe(): Promise<string | undefined> {
    return this.#options.path === undefined ? this.#connect() : this.#get(this.#options.path);
  }

  #connect(): Promise<string | undefined> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: this.#upstream.host, port: this.#upstream.port });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(`no connection within ${this.#options.timeoutMs} ms`);
      }, this.#options.timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(`connect failed: ${err.code ?? err.message}`);
      });
    });
  }

  async #get(path: string): Promise<string | undefined> {
    try {
      const res = await this.#pool.request({ path, method: 'GET', signal: AbortSignal.timeout(this.#options.timeoutMs), headers: { 'user-agent': 'hyphae-proxy-health' } });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 400 ? undefined : `GET ${path} answered ${res.statusCode}`;
    } catch (err) {
      return `GET ${path} failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
  }
}
