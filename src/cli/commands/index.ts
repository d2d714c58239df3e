/**
 * Every `hyphae` command. A new command is a file in this folder and a line here.
 *
 * A command's module is loaded only when that command runs: importing all of them brought in the control
 * plane, the gateway and the proxy (node-forge, OpenTelemetry, the mesh library) for `hyphae get` too, and
 * the CLI took 0.8 s to start (0.4 s for one command's modules). Name and summary live here so that
 * `hyphae --help` loads none.
 */
import type { Command } from '../command.js';

export interface CommandEntry {
  name: string;
  /** One line, for `hyphae --help`. */
  summary: string;
  load(): Promise<Command>;
}

export const commands: readonly CommandEntry[] = [
  { name: 'control-plane', summary: 'run the control plane (registry, configuration, watch API)', load: () => import('./control-plane.js').then((m) => m.controlPlaneCommand) },
  { name: 'apply', summary: 'create or update resources from YAML or JSON files', load: () => import('./apply.js').then((m) => m.applyCommand) },
  { name: 'get', summary: 'list routes, services, instances or gateways', load: () => import('./get.js').then((m) => m.getCommand) },
  { name: 'delete', summary: 'delete resources by name or from files', load: () => import('./delete.js').then((m) => m.deleteCommand) },
  { name: 'diff', summary: 'show what apply would change', load: () => import('./diff.js').then((m) => m.diffCommand) },
  { name: 'schema', summary: 'print the JSON Schema of resources (for editors)', load: () => import('./schema.js').then((m) => m.schemaCommand) },
  { name: 'status', summary: 'control plane, services and warnings at a glance', load: () => import('./status.js').then((m) => m.statusCommand) },
  { name: 'top', summary: 'live per-edge or per-route rps, success rate and latency', load: () => import('./top.js').then((m) => m.topCommand) },
  { name: 'tap', summary: 'live sample of the requests a service serves', load: () => import('./tap.js').then((m) => m.tapCommand) },
  { name: 'describe', summary: 'details of one service (instances, traffic, config, routes, policies) or gateway', load: () => import('./describe.js').then((m) => m.describeCommand) },
  { name: 'token', summary: 'create, list and revoke join and viewer tokens (admin)', load: () => import('./token.js').then((m) => m.tokenCommand) },
  { name: 'cluster', summary: 'peer with other clusters: peering tokens, peerings, imports (admin)', load: () => import('./cluster.js').then((m) => m.clusterCommand) },
  { name: 'ca', summary: 'show the mesh CA, rotate its root, retire the old root (admin)', load: () => import('./ca.js').then((m) => m.caCommand) },
  { name: 'proxy', summary: 'sidecar for a service in another language: mTLS in, mesh calls out', load: () => import('./proxy.js').then((m) => m.proxyCommand) },
  { name: 'gateway', summary: 'ingress gateway: traffic from outside the mesh, by a Gateway and its Routes', load: () => import('./gateway.js').then((m) => m.gatewayCommand) },
  { name: 'check', summary: 'check the control plane, the data plane and the configuration', load: () => import('./check.js').then((m) => m.checkCommand) },
  { name: 'version', summary: "print the CLI's and the control plane's versions", load: () => import('./version.js').then((m) => m.versionCommand) },
  { name: 'config', summary: 'contexts: which control plane, CA and token file commands use', load: () => import('./config.js').then((m) => m.configCommand) },
  { name: 'completion', summary: 'print a bash or zsh completion script', load: () => import('./completion.js').then((m) => m.completionCommand(loadAll)) },
];

/** Every command loaded (shell completion reads each one's flags). */
export function loadAll(): Promise<Command[]> {
  return Promise.all(commands.map((c) => c.load()));
}
