/** `hyphae token create|list|revoke`: join tokens, each bound to one service identity, and read-only viewer tokens (admin token needed). */
import type { TokenResponse } from '../../config/wire.js';
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom, describeApiError } from '../api-client.js';
import { UsageError, type Command, parseCommandArgs } from '../command.js';
import { durationFlag, stringFlag } from '../flags.js';
import { outputFlags, outputFormat, outputUsage, printData, table } from '../output.js';

const usage = `Usage: hyphae token create --service <name> [--namespace <ns>] [--ttl <duration>] [-o json|yaml]
       hyphae token create --viewer [--ttl <duration>] [-o json|yaml]
       hyphae token list [-o json|yaml|wide]
       hyphae token revoke <id>

Join tokens let a workload register, watch and obtain the certificate of ONE
service identity. "create" prints the token on stdout (it is shown once: the
control plane keeps only its digest); give it to the workload as HYPHAE_TOKEN.

Viewer tokens (--viewer) only read: the dashboard (/ui#token=<token>) and
read-only commands (hyphae get, describe, status, top with --token). They
cannot register, obtain a certificate or change anything: the token to put in
a dashboard link you share.

Options:
  --service <name>      the service the token is for (create)
  --viewer              a read-only viewer token instead of a join token (create)
  --namespace <ns>      its namespace (default "default")
  --ttl <duration>      the token's own lifetime, e.g. 1h or 30d (default: until revoked)
${outputUsage('the whole answer (create: the token with its id and dates; list: the tokens)', 'the same table', true)}
${apiFlagsUsage}

Exit status: 0 done, 1 refused or failed (not found, not admin), 2 bad usage.
`;

export const tokenCommand: Command = {
  name: 'token',
  usage,
  async run(args) {
    const parsed = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        ...apiFlags,
        service: { type: 'string' },
        namespace: { type: 'string' },
        ttl: { type: 'string' },
        viewer: { type: 'boolean', default: false },
        ...outputFlags(true),
        help: { type: 'boolean', short: 'h' },
      },
    });
    const { values, positionals } = parsed;
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const [sub, ...rest] = positionals;
    const format = outputFormat(values);
    const client = new ApiClient(await connectionFrom(values));
    try {
      switch (sub) {
        case 'create': {
          if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
          const service = stringFlag('service', values.service);
          if (values.viewer && (service !== undefined || values.namespace !== undefined)) {
            throw new UsageError('a viewer token is bound to no service: give --viewer or --service, not both');
          }
          if (!values.viewer && !service) throw new UsageError('token create needs --service <name> (or --viewer for a read-only token)');
          const ttlMs = durationFlag('ttl', values.ttl, 1000, 10 * 365 * 86_400_000);
          const body = {
            ...(values.viewer ? { kind: 'viewer' } : { service }),
            ...(values.namespace !== undefined ? { namespace: stringFlag('namespace', values.namespace) } : {}),
            ...(ttlMs !== undefined ? { ttlSeconds: Math.ceil(ttlMs / 1000) } : {}),
          };
          const res = await client.call<TokenResponse>('POST', '/v1/tokens', body);
          if (res.status !== 201) return fail(res.status, res.body);
          const t = res.body as TokenResponse;
          if (!(await printData(format, t))) {
            process.stdout.write(`${t.token}\n`);
            const what = t.kind === 'viewer' ? 'viewer token (read-only)' : `join token for ${t.namespace}/${t.service}`;
            process.stderr.write(`${what.replace(/token/, `token ${t.id}`)}, expires ${t.expiresAt ?? 'never'}\n`);
          }
          return 0;
        }
        case 'list': {
          if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
          const res = await client.call<{ tokens: Row[] }>('GET', '/v1/tokens');
          if (res.status !== 200) return fail(res.status, res.body);
          const rows = (res.body as { tokens: Row[] }).tokens;
          if (!(await printData(format, rows))) {
            const cells = rows.map((r) => [r.id, r.namespace ?? '-', r.service ?? '-', r.source, r.createdAt ?? '-', r.expiresAt ?? 'never', r.kind ?? 'join']);
            process.stdout.write(table(['ID', 'NAMESPACE', 'SERVICE', 'SOURCE', 'CREATED', 'EXPIRES', 'KIND'], cells, 2));
          }
          return 0;
        }
        case 'revoke': {
          if (rest.length !== 1) throw new UsageError('token revoke takes one token id (see "hyphae token list")');
          const res = await client.call('DELETE', `/v1/tokens/${encodeURIComponent(rest[0]!)}`);
          if (res.status !== 200) return fail(res.status, res.body);
          process.stdout.write(`revoked ${rest[0]}\n`);
          return 0;
        }
        case undefined:
          throw new UsageError('say what to do: create, list or revoke');
        default:
          throw new UsageError(`unknown sub-command "${sub}": use create, list or revoke`);
      }
    } finally {
      await client.close();
    }
  },
};

interface Row {
  id: string;
  kind?: string;
  service: string | null;
  namespace: string | null;
  source: string;
  createdAt: string | null;
  expiresAt: string | null;
}

export function fail(status: number, body: unknown): number {
  process.stderr.write(`${describeApiError(status, body)}\n`);
  return 1;
}
