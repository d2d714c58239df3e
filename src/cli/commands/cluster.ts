/** `hyphae cluster peering-token|peer|peers|unpeer`: peerings between clusters (admin token needed). */
import { readFileSync } from 'node:fs';
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom } from '../api-client.js';
import { UsageError, type Command, parseCommandArgs } from '../command.js';
import { stringFlag } from '../flags.js';
import { outputFlags, outputFormat, outputUsage, printData, table } from '../output.js';
import { fail } from './token.js';
import type { PeeringRow } from '../peerings.js';

const usage = `Usage: hyphae cluster peering-token --peer <cluster> [--address <url>]... [--gateway [<ns>/]<service>]
       hyphae cluster peer (--peering-token <token> | --token-from <file>)
       hyphae cluster peers [-o json|yaml]
       hyphae cluster unpeer <cluster>

Peering makes two clusters' control planes one mesh: dc2 makes a token for dc1
("peering-token" on dc2), dc1 uses it ("peer" on dc1); dc1's control plane then
holds a link to dc2's and imports the services dc2 exports (ServiceExport
resources), tagged with dc2's cluster name. "unpeer" on dc2 revokes the token
(the link is cut, and refused from then on); on dc1 it stops importing.

Options:
  --peer <cluster>        peering-token: the cluster that will use the token
  --address <url>         peering-token: this control plane's URL as the peer reaches it
                          (repeatable; default: the --control-plane URL this command uses)
  --gateway <svc>         peering-token: gateway model, give the peer the instances of this
                          service (the mesh gateways, "ns/name" or "name") for every export
  --peering-token <t>     peer: the token dc2 printed (visible in "ps"; prefer --token-from)
  --token-from <file>     peer: read the token from this file ("-": standard input)
${outputUsage('peers: the whole answer', 'the same table', false)}
${apiFlagsUsage}

Exit status: 0 done, 1 refused or failed, 2 bad usage.
`;

export const clusterCommand: Command = {
  name: 'cluster',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        ...apiFlags,
        peer: { type: 'string' },
        address: { type: 'string', multiple: true },
        gateway: { type: 'string' },
        // --token is the API flag the CLI refuses (a secret on the command line); the peering token has its own name.
        'peering-token': { type: 'string' },
        'token-from': { type: 'string' },
        ...outputFlags(),
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const [sub, ...rest] = positionals;
    const format = outputFormat(values);
    const client = new ApiClient(await connectionFrom(values));
    try {
      switch (sub) {
        case 'peering-token': {
          if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
          const peer = stringFlag('peer', values.peer);
          if (!peer) throw new UsageError('peering-token needs --peer <cluster>: the cluster that will use it');
          const addresses = values.address && values.address.length > 0 ? values.address : [client.conn.url];
          const gw = stringFlag('gateway', values.gateway);
          const gateway = gw === undefined ? undefined : gw.includes('/') ? { namespace: gw.split('/')[0]!, name: gw.split('/')[1]! } : { name: gw };
          const res = await client.call<{ token: string }>('POST', '/v1/peerings/tokens', { peer, addresses, ...(gateway ? { gateway } : {}) });
          if (res.status !== 201) return fail(res.status, res.body);
          process.stdout.write(`${(res.body as { token: string }).token}\n`);
          process.stderr.write(`peering token for ${peer} (a secret: give it to ${peer}'s operator, who runs "hyphae cluster peer --token-from <file>")\n`);
          return 0;
        }
        case 'peer': {
          if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
          const token = tokenArg(values['peering-token'], values['token-from']);
          const res = await client.call<{ peering: PeeringRow }>('POST', '/v1/peerings', { token });
          if (res.status !== 201) return fail(res.status, res.body);
          const p = (res.body as { peering: PeeringRow }).peering;
          process.stdout.write(`peered with ${p.peer}: importing its exported services (state ${p.state})\n`);
          return 0;
        }
        case 'peers': {
          if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
          const res = await client.call<{ peerings: PeeringRow[] }>('GET', '/v1/peerings');
          if (res.status !== 200) return fail(res.status, res.body);
          const rows = (res.body as { peerings: PeeringRow[] }).peerings;
          if (!(await printData(format, rows))) {
            if (rows.length === 0) process.stderr.write('no peerings\n');
            else process.stdout.write(table(['PEER', 'DIRECTION', 'STATE', 'LAST SYNC', 'AGE', 'IMPORTED', 'DETAIL'], rows.map(cells)));
          }
          return 0;
        }
        case 'unpeer': {
          if (rest.length !== 1) throw new UsageError('unpeer takes one cluster name (see "hyphae cluster peers")');
          const res = await client.call('DELETE', `/v1/peerings/${encodeURIComponent(rest[0]!)}`);
          if (res.status !== 200) return fail(res.status, res.body);
          process.stdout.write(`peering with ${rest[0]} deleted\n`);
          return 0;
        }
        case undefined:
          throw new UsageError('say what to do: peering-token, peer, peers or unpeer');
        default:
          throw new UsageError(`unknown sub-command "${sub}": use peering-token, peer, peers or unpeer`);
      }
    } finally {
      await client.close();
    }
  },
};

function tokenArg(inline: string | undefined, file: string | undefined): string {
  if ((inline === undefined) === (file === undefined)) throw new UsageError('peer needs the token: --peering-token <token> or --token-from <file>, one of them');
  if (inline !== undefined) return inline;
  try {
    return readFileSync(file === '-' ? 0 : file!, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`cannot read --token-from ${file}: ${(err as Error).message}`);
  }
}

function cells(r: PeeringRow): string[] {
  const imported = r.direction === 'importing' ? `${r.importedServices?.length ?? 0} svc / ${r.importedInstances ?? 0} inst` : '-';
  const detail = r.lastError ?? (r.gateway ? `gateway ${r.gateway}` : r.direction === 'exporting' ? `${r.streams ?? 0} streams` : (r.importedServices ?? []).join(','));
  return [r.peer, r.direction, r.state, r.lastSyncAt ?? '-', r.ageSeconds === undefined ? '-' : `${r.ageSeconds}s`, imported, detail];
}
