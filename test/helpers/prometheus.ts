/** Debian's prometheus on loopback, with a scrape configuration of the test's, and its query API. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface RunningPrometheus {
  url: string;
  /** The instant query's result vector. */
  query(promql: string): Promise<PromSample[]>;
  /** Polls `promql` until `accept` holds for its result; throws with the last result after `boundMs`. */
  until(promql: string, accept: (result: PromSample[]) => boolean, boundMs?: number): Promise<PromSample[]>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** `scrapeConfigs`: the YAML list under `scrape_configs:` (indented by two spaces); scrapes every second. */
export async function startPrometheus(scrapeConfigs: string, dir?: string): Promise<RunningPrometheus> {
  const ownDir = dir === undefined;
  const home = dir ?? (await mkdtemp(path.join(os.tmpdir(), 'hyphae-prom-')));
  const config = path.join(home, 'prometheus.yml');
  await writeFile(config, `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n${scrapeConfigs}`);
  const port = await freePort();
  const proc: ChildProcess = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(home, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    // A bound against a stall: the Debian build is ready in a second or two, more on a busy machine.
    const timer = setTimeout(() => reject(new Error(`prometheus did not start:\n${log}`)), 60_000);
    proc.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready to receive web requests')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`prometheus exited (${code}):\n${log}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const query = async (promql: string): Promise<PromSample[]> => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data?: { result: PromSample[] }; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus query ${promql}: ${body.error}`);
    return body.data!.result;
  };
  return {
    url,
    query,
    async until(promql, accept, boundMs = 60_000) {
      const deadline = performance.now() + boundMs;
      for (;;) {
        const result = await query(promql);
        if (accept(result)) return result;
        if (performance.now() > deadline) throw new Error(`${promql} not as expected within ${boundMs} ms: ${JSON.stringify(result)}\nprometheus log:\n${log.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      if (ownDir) await rm(home, { recursive: true, force: true });
    },
  };
}
