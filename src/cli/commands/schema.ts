/** `hyphae schema`: the JSON Schema of every resource, for editors (yaml-language-server, VS Code). */
import { z } from 'zod';
import {
  resourceSchema,
  routeResourceSchema,
  serviceResourceSchema,
  authorizationPolicyResourceSchema,
  peerAuthenticationResourceSchema,
  gatewayResourceSchema,
  serviceExportResourceSchema,
} from '../../config/resources.js';
import { type Command, parseCommandArgs } from '../command.js';
import { parseKind } from '../kinds.js';

const usage = `Usage: hyphae schema [--kind <kind>]

Print the JSON Schema (draft 2020-12) of hyphae resources: every kind (one
of them, told apart by "kind"), or one. It describes what you write (durations
as "250ms" or numbers, defaults optional), generated from the same zod
schemas the control plane validates with. For YAML files in VS Code:

  hyphae schema > hyphae.schema.json
  # then, first line of a file:  # yaml-language-server: $schema=./hyphae.schema.json

Options:
  --kind <kind>  only this kind (Service, Route, AuthorizationPolicy, PeerAuthentication, Gateway, ServiceExport)
  -h, --help     show this help

Exit status: 0 printed, 2 bad usage (an unknown kind).
`;

const byKind = {
  Service: serviceResourceSchema,
  Route: routeResourceSchema,
  AuthorizationPolicy: authorizationPolicyResourceSchema,
  PeerAuthentication: peerAuthenticationResourceSchema,
  Gateway: gatewayResourceSchema,
  ServiceExport: serviceExportResourceSchema,
} as const;

export function resourceJsonSchema(kind?: keyof typeof byKind): Record<string, unknown> {
  const schema = kind === undefined ? resourceSchema : byKind[kind];
  return { title: kind === undefined ? 'hyphae resource' : `hyphae ${kind}`, ...z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) };
}

export const schemaCommand: Command = {
  name: 'schema',
  usage,
  async run(args) {
    const { values } = parseCommandArgs({ args, strict: true, allowPositionals: false, options: { kind: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const kind = values.kind === undefined ? undefined : parseKind(values.kind);
    process.stdout.write(`${JSON.stringify(resourceJsonSchema(kind), null, 2)}\n`);
    return 0;
  },
};
