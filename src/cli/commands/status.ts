/** `hyphae status`: is the control plane up, what services are there, and what needs attention. */
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom, describeApiError } from '../api-client.js';
import { type Command, parseCommandArgs } from '../command.js';
import { intFlag } from '../flags.js';
import { outputFlags, outputFormat, outputUsage, printData } from '../output.js';
import { peeringsLine, peeringWarnings, type PeeringRow } from '../peerings.js';
import { commonFlagsUsage, fetchSummary, ms, pct, rps, short, statsTable } from '../stats-format.js';

const usage = `Usage: hyphae status [options]

Show the control plane, the services with their instances and live inbound
figures, peerings with other clusters (with an admin token), and warnings:
certificates close to expiry, configuration a process refused, instances
that stopped reporting, failing edges, a peer cluster's link that is down.

Options:
${commonFlagsUsage}
${outputUsage('{controlPlane (with its cluster), peerings (null without an admin token), windowSeconds, services, edges, warnings}', 'requests, errors and p50 per service', true)}
  -h, --help             show this help

${apiFlagsUsage}

Exit status: 0 shown (warnings included), 1 the control plane could not be read, 2 bad usage.
`;

interface Health {
  status: string;
  /** Absent from a control plane that predates clusters. */
  cluster?: string;
  revision: number;
  services: number;
  instances: number;
}

export const statusCommand: Command = {
  name: 'status',
  usage,
  async run(args) {
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { ...apiFlags, window: { type: 'string' }, ...outputFlags(true), help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const format = outputFormat(values);
    const windowSeconds = intFlag('window', values.window, 1, 60) ?? 10;
    const client = new ApiClient(await connectionFrom(values));
    try {
      const health = await client.call<Health>('GET', '/v1/health');
      if (health.status !== 200) throw new Error(describeApiError(health.status, health.body));
      const h = health.body as Health;
      const cluster = h.cluster ?? health.cluster;
      const s = await fetchSummary(client, windowSeconds);
      // Peerings are an admin's to read: with a viewer token (or a control plane that predates them) they are left out.
      const peerings = await client.call<{ peerings: PeeringRow[] }>('GET', '/v1/peerings');
      const rows = peerings.status === 200 ? (peerings.body as { peerings: PeeringRow[] }).peerings : undefined;
      const warnings = [...s.warnings, ...(rows ? peeringWarnings(rows) : []).map((message) => ({ kind: 'peering', message }))];
      if (format === 'json' || format === 'yaml') {
        const out = {
          controlPlane: { url: client.conn.url, status: h.status, cluster: cluster ?? null, revision: h.revision, services: h.services, instances: h.instances, reporters: s.controlPlane.reporters },
          peerings: rows ?? null,
          windowSeconds: s.windowSeconds,
          services: s.services,
          edges: s.edges,
          warnings,
        };
        await printData(format, out);
        return 0;
      }
      const wide = format === 'wide';
      const lines = [
        `Control plane  ${client.conn.url}  ${h.status}  revision ${h.revision}`,
        // Every instance it lists runs in it (an imported one says its own cluster in get instances).
        `Cluster        ${cluster ?? 'unknown (the control plane predates clusters)'}`,
        ...(rows ? [`Peerings       ${peeringsLine(rows)}`] : []),
        `Services       ${h.services} (${h.instances} instances, ${s.controlPlane.reporters} processes reporting stats)`,
        '',
      ];
      lines.push(
        s.services.length === 0
          ? 'No services yet.'
          : statsTable(
              ['SERVICE', 'INSTANCES', 'CONFIG', `RPS IN (${s.windowSeconds}s)`, 'SUCCESS', 'P99', ...(wide ? ['P50', 'REQUESTS', 'ERRORS'] : [])],
              s.services.map((v) => [
                short(`${v.namespace}/${v.name}`),
                String(v.instances),
                v.hasConfig ? 'yes' : '-',
                rps(v.traffic.rps),
                pct(v.traffic.successRate),
                ms(v.traffic.p99Ms),
                ...(wide ? [ms(v.traffic.p50Ms), String(v.traffic.requests), String(v.traffic.errors)] : []),
              ]),
            ),
      );
      lines.push('');
      if (warnings.length === 0) lines.push('No warnings.');
      else {
        lines.push(`Warnings (${warnings.length}):`);
        for (const w of warnings) lines.push(`  ! [${w.kind}] ${w.message}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};
