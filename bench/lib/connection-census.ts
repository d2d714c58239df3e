/**
 * A preload for the edge benches' proxies (`node --import <this file> ...`): counts the connections a
 * process accepts (Node's `net.server.socket` channel, by local port) and those its undici pools open
 * (`undici:client:connected`, by remote port: for a mesh pool each one is an mTLS handshake; and
 * `undici:client:connectError`), through diagnostics channels. Nothing of hyphae is touched: a channel
 * without subscribers costs nothing, and these subscribers run once per connection, never per request.
 * (`net.client.socket` would miss TLS: `tls.connect` does not publish it.)
 *
 * It also counts what would make a tail of slow requests: the time the process spent in GC and its pauses
 * of 10 ms or more (a PerformanceObserver of `gc` entries), and its event loop's stalls, the turns of a 10 ms
 * timer that came at least 20 or 50 ms late (a turn of the loop that long holds every request waiting on it);
 * of the 20 ms ones, those during which the process had less than half of a CPU (process.cpuUsage) were the
 * scheduler's doing on a shared machine, not the process's own work. Cumulative counts, like the
 * connections, so that a round's share is the difference of two reads (a histogram such as
 * monitorEventLoopDelay's cannot be taken apart that way).
 *
 * On SIGUSR2 it prints one line, `hyphae-census <seq> <json>` (seq counts the reports from 1), which
 * `censusReader` (below) asks for and parses: the bench reads it before and after each round, so a proxy
 * that re-makes connections under a steady load shows it as connections per round.
 */
import dc from 'node:diagnostics_channel';
import { PerformanceObserver } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Child } from '../../examples/lib/child.js';

export interface Census {
  /** Connections accepted, by the local port they came in on. */
  accepted: Record<string, number>;
  /** Connections undici opened, by the remote port they went to (TLS included: connected = handshake done). */
  connected: Record<string, number>;
  /** Connections undici failed to open. */
  connectErrors: number;
  /** The process's V8 heap in use and its resident set when the census was read (MiB): growth under a steady load shows here. */
  heapUsedMiB?: number;
  rssMiB?: number;
  /** Milliseconds spent in GC pauses since the start (main thread), and the pauses of 10 ms or more. */
  gcMs?: number;
  gcPauses10?: number;
  /** Turns of the census's 10 ms timer that came at least 20 (50) ms late, since the start... */
  loopStalls20?: number;
  loopStalls50?: number;
  /** ...and of the 20 ms ones, those the process spent mostly off the CPU (descheduled). */
  loopStallsDescheduled?: number;
}

/** The stall sampler's period: short enough to see a 20 ms stall, long enough to cost nothing measurable. */
const TICK_MS = 10;
const CPU_EVERY = 10;

const LINE = 'hyphae-census';

function install(): void {
  const census: Census = { accepted: {}, connected: {}, connectErrors: 0 };
  const bump = (into: Record<string, number>, port: number | undefined) => {
    const key = String(port ?? '?');
    into[key] = (into[key] ?? 0) + 1;
  };
  dc.subscribe('net.server.socket', (m) => bump(census.accepted, (m as { socket: Socket }).socket.localPort));
  dc.subscribe('undici:client:connected', (m) => bump(census.connected, Number((m as { connectParams: { port: string } }).connectParams.port)));
  dc.subscribe('undici:client:connectError', () => census.connectErrors++);
  let gcMs = 0;
  let gcPauses10 = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      if (e.duration >= 10) gcPauses10++;
    }
  }).observe({ entryTypes: ['gc'] });
  let stalls20 = 0;
  let stalls50 = 0;
  let descheduled = 0;
  let last = performance.now();
  // The CPU time is read every CPU_EVERY ticks, and at a stall: getrusage on every tick showed as 1.6 % of a
  // busy gateway's profile. A stall is judged over the time since the last read (up to 100 ms before it).
  let cpuAt = last;
  let cpuThen = process.cpuUsage();
  let ticks = 0;
  setInterval(() => {
    const now = performance.now();
    const late = now - last - TICK_MS;
    last = now;
    const stalled = late >= 20;
    if (!stalled && ++ticks % CPU_EVERY !== 0) return;
    const cpu = process.cpuUsage();
    if (stalled) {
      stalls20++;
      if (late >= 50) stalls50++;
      if ((cpu.user - cpuThen.user + cpu.system - cpuThen.system) / 1000 < (now - cpuAt) / 2) descheduled++;
    }
    cpuAt = now;
    cpuThen = cpu;
  }, TICK_MS).unref();
  let seq = 0;
  process.on('SIGUSR2', () => {
    const m = process.memoryUsage();
    process.stdout.write(
      `${LINE} ${++seq} ${JSON.stringify({ ...census, heapUsedMiB: Math.round(m.heapUsed / 2 ** 20), rssMiB: Math.round(m.rss / 2 ** 20), gcMs: Math.round(gcMs), gcPauses10, loopStalls20: stalls20, loopStalls50: stalls50, loopStallsDescheduled: descheduled })}\n`,
    );
  });
}

/** Reads a child's census on demand (the child must run with this file as a preload). */
export function censusReader(child: Child): () => Promise<Census> {
  let seq = 0;
  return async () => {
    const want = ++seq;
    child.proc.kill('SIGUSR2');
    // A ceiling against a child that died or never loaded the preload.
    const m = await child.waitFor(new RegExp(`^${LINE} ${want} (.*)$`), 10_000);
    return JSON.parse(m[1]!) as Census;
  };
}

/** What happened between two reads: per key, the difference (keys with none left out). */
export function censusDelta(before: Census, after: Census): Census {
  const diff = (a: Record<string, number>, b: Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const k of Object.keys(b)) {
      const d = b[k]! - (a[k] ?? 0);
      if (d !== 0) out[k] = d;
    }
    return out;
  };
  return { accepted: diff(before.accepted, after.accepted), connected: diff(before.connected, after.connected), connectErrors: after.connectErrors - before.connectErrors };
}

/** Whether this module was loaded as the preload (`--import`), not imported by the bench. */
if (process.env.HYPHAE_BENCH_CENSUS === '1') install();
