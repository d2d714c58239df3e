/** `hyphae top`: live per-edge rps, success rate and latency, as `linkerd viz stat` shows them. */
import { sleep } from '../../core/backoff.js';
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom } from '../api-client.js';
import { type Command, parseCommandArgs } from '../command.js';
import { intFlag, numberFlag } from '../flags.js';
import { commonFlagsUsage, edgeTable, fetchSummary, short } from '../stats-format.js';

const usage = `Usage: hyphae top [options]

Live traffic between services (source -> destination): requests per second,
success rate, p50 and p99 latency over the last --window seconds, refreshed
every --interval seconds until Ctrl-C. Figures come from the stats every mesh
process reports to the control plane.

Options:
  --once                 print one table and exit (for scripts)
  --interval <seconds>   refresh period (default 2)
  --service <name>       only edges from or to this service
${commonFlagsUsage} (with --once one object, else one per line)
  -h, --help             show this help

${apiFlagsUsage}

Exit status: 0 stopped with Ctrl-C (or --once printed), 1 the control plane could not be read, 2 bad usage.
`;

export const topCommand: Command = {
  name: 'top',
  summary: 'live per-edge rps, success rate and latency',
  usage,
  async run(args) {
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...apiFlags,
        once: { type: 'boolean' },
        interval: { type: 'string' },
        window: { type: 'string' },
        service: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const windowSeconds = intFlag('window', values.window, 1, 60) ?? 10;
    const intervalMs = (numberFlag('interval', values.interval, 0.2, 3600) ?? 2) * 1000;
    const only = values.service;
    const client = new ApiClient(connectionFrom(values));
    const tty = process.stdout.isTTY === true && !values.json;
    // Ctrl-C ends the loop cleanly (exit 0) instead of killing the process mid-line.
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      for (;;) {
        const s = await fetchSummary(client, windowSeconds);
        const edges = only ? s.edges.filter((e) => short(e.source) === only || short(e.destination) === only || e.source === only || e.destination === only) : s.edges;
        if (values.json) {
          const out = { generatedAt: s.generatedAt, windowSeconds: s.windowSeconds, edges };
          process.stdout.write(`${values.once ? JSON.stringify(out, null, 2) : JSON.stringify(out)}\n`);
        } else {
          const head = `hyphae top  ${client.conn.url}  window ${s.windowSeconds}s  ${new Date(s.generatedAt).toLocaleTimeString()}`;
          // On a terminal, redraw in place; in a pipe, one table after another.
          process.stdout.write(`${tty && !values.once ? '\x1b[H\x1b[2J' : ''}${head}\n\n${edgeTable(edges)}\n${values.once ? '' : '\n'}`);
        }
        if (values.once || stop.signal.aborted) return 0;
        try {
          await sleep(intervalMs, stop.signal);
        } catch {
          return 0;
        }
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await client.close();
    }
  },
};
