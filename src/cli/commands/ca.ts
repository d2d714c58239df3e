/** `hyphae ca show|rotate|retire`: the mesh CA and its root rotation. */
import { readFileSync } from 'node:fs';
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom } from '../api-client.js';
import { UsageError, type Command, parseCommandArgs } from '../command.js';
import { stringFlag } from '../flags.js';
import { outputFlags, outputFormat, outputUsage, printData } from '../output.js';
import { fail } from './token.js';

const usage = `Usage: hyphae ca show [--bundle] [-o json|yaml]
       hyphae ca rotate [--ca-cert <file> --ca-key <file>]
       hyphae ca retire [--force]

A root rotation has two steps. "rotate" stages a new root: the trust bundle
now holds the old and the new root and is pushed to every workload, and new
certificates are signed by the new one. Once every workload has renewed (one
certificate lifetime), "retire" drops the old root; it refuses while a
certificate signed by the old root may still be valid, unless --force.

Options:
  --bundle              print the trust bundle (PEM), e.g. to refresh a HYPHAE_CA_FILE
${outputUsage('the whole answer (show, rotate, retire)', 'the same text', true)}
  --ca-cert <file>      rotate to the operator's CA (PEM, chain up to the root) instead of a new self-signed root
  --ca-key <file>       its private key (PEM); it is sent to the control plane over TLS
  --force               retire even though old certificates may still be valid
${apiFlagsUsage}

Exit status: 0 done, 1 refused or failed (a rotation already staged, old leaves still valid), 2 bad usage.
`;

interface Status {
  trustDomain: string;
  version: number;
  certTtlSeconds: number;
  active: string;
  authorities: { id: string; subject: string; notAfter: string; source: string; active: boolean; leavesValidUntil: string | null; encryptionKeyId?: string }[];
  bundle?: { roots: string[] };
}

export const caCommand: Command = {
  name: 'ca',
  usage,
  async run(args) {
    const parsed = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        ...apiFlags,
        bundle: { type: 'boolean', default: false },
        ...outputFlags(true),
        'ca-cert': { type: 'string' },
        'ca-key': { type: 'string' },
        force: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const { values, positionals } = parsed;
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const [sub, ...rest] = positionals;
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const format = outputFormat(values);
    let res;
    const client = new ApiClient(await connectionFrom(values));
    try {
      switch (sub) {
        case 'show':
          res = await client.call<Status>('GET', '/v1/ca');
          break;
        case 'rotate': {
          const certFile = stringFlag('ca-cert', values['ca-cert']);
          const keyFile = stringFlag('ca-key', values['ca-key']);
          if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('give --ca-cert and --ca-key together');
          const body = certFile ? { certificate: readPem(certFile, 'ca-cert'), key: readPem(keyFile!, 'ca-key') } : {};
          res = await client.call<Status>('POST', '/v1/ca/rotate', body);
          break;
        }
        case 'retire':
          res = await client.call<Status>('POST', '/v1/ca/retire', { force: values.force });
          break;
        case undefined:
          throw new UsageError('say what to do: show, rotate or retire');
        default:
          throw new UsageError(`unknown sub-command "${sub}": use show, rotate or retire`);
      }
    } finally {
      await client.close();
    }
    if (res.status !== 200) return fail(res.status, res.body);
    const status = res.body as Status;
    if (values.bundle) process.stdout.write(status.bundle?.roots.join('') ?? '');
    else if (!(await printData(format, status))) process.stdout.write(describe(status));
    return 0;
  },
};

function describe(s: Status): string {
  const lines = [`trust domain ${s.trustDomain}, bundle v${s.version}, ${s.authorities.length} root(s), certificates live ${s.certTtlSeconds}s`];
  for (const a of s.authorities) {
    const role = a.active ? 'active (signs new certificates)' : `retiring (its certificates valid until ${a.leavesValidUntil})`;
    lines.push(`  ${a.id}  ${role}`, `      ${a.subject}, ${a.source}, expires ${a.notAfter}`);
    if (a.encryptionKeyId) lines.push(`      private key in etcd encrypted with key id ${a.encryptionKeyId}`);
  }
  return `${lines.join('\n')}\n`;
}

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
