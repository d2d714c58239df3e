/** `hyphae top`: live per-edge (or, with --routes, per route rule) rps, success rate and latency, as `linkerd viz stat` and `viz routes` show them. */
import { sleep } from '../../core/backoff.js';
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom } from '../api-client.js';
import { type Command, parseCommandArgs } from '../command.js';
import { intFlag, numberFlag } from '../flags.js';
import { json, outputFlags, outputFormat, outputUsage, toYaml } from '../output.js';
import { commonFlagsUsage, edgeTable, fetchSummary, routeRows, routeTable, short } from '../stats-format.js';

const usage = `Usage: hyphae top [--routes] [options]

Live traffic between services (source -> destination): requests per second,
success rate, p50 and p99 latency over the last --window seconds, refreshed
every --interval seconds until Ctrl-C. Figures come from the stats every mesh
process reports to the control plane.

With --routes, the same figures per route rule of each destination (every
caller together), as "linkerd viz routes" lists them: each rule of the Routes
whose parent is the service, then [default] for calls no Route steered, and
[other] for rules past the 32 a caller counts apart per destination.

Options:
  --routes               per route rule instead of per edge
  --once                 print one table and exit (for scripts)
  --interval <seconds>   refresh period (default 2)
  --service <name>       only edges from or to this service (--routes: routes to it)
${commonFlagsUsage}
${outputUsage('{generatedAt, windowSeconds, edges} (--routes: routes) with --once, else one object per line', 'an ERRORS column', true)}
  -h, --help             show this help

${apiFlagsUsage}

Exit status: 0 stopped with Ctrl-C (or --once printed), 1 the control plane could not be read, 2 bad usage.
`;

export const topCommand: Command = {
  name: 'top',
  usage,
  async run(args) {
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...apiFlags,
        routes: { type: 'boolean' },
        once: { type: 'boolean' },
        interval: { type: 'string' },
        window: { type: 'string' },
        service: { type: 'string' },
        ...outputFlags(true),
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const format = outputFormat(values);
    const data = format === 'json' || format === 'yaml';
    const windowSeconds = intFlag('window', values.window, 1, 60) ?? 10;
    const intervalMs = (numberFlag('interval', values.interval, 0.2, 3600) ?? 2) * 1000;
    const only = values.service;
    const matches = (ref: string | null) => ref !== null && (short(ref) === only || ref === only);
    const client = new ApiClient(await connectionFrom(values));
    const tty = process.stdout.isTTY === true && !data;
    // Ctrl-C ends the loop cleanly (exit 0) instead of killing the process mid-line.
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      for (;;) {
        const s = await fetchSummary(client, windowSeconds);
        const routes = values.routes ? routeRows(s, (d) => only === undefined || matches(d)) : undefined;
        const edges = only ? s.edges.filter((e) => matches(e.source) || matches(e.destination)) : s.edges;
        const view = routes ? { routes } : { edges };
        if (data) {
          const out = { generatedAt: s.generatedAt, windowSeconds: s.windowSeconds, ...view };
          // A stream of JSON objects is one per line; YAML's are documents.
          process.stdout.write(format === 'yaml' ? `${values.once ? '' : '---\n'}${await toYaml(out)}` : values.once ? json(out) : `${JSON.stringify(out)}\n`);
        } else {
          const head = `hyphae top  ${client.conn.url}  window ${s.windowSeconds}s  ${new Date(s.generatedAt).toLocaleTimeString()}`;
          const body = routes ? routeTable(routes, format === 'wide') : edgeTable(edges, format === 'wide');
          // On a terminal, redraw in place; in a pipe, one table after another.
          process.stdout.write(`${tty && !values.once ? '\x1b[H\x1b[2J' : ''}${head}\n\n${body}\n${values.once ? '' : '\n'}`);
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
