/** `hyphae config get-contexts|current-context|use-context|set-context`: the contexts of the CLI's config file. */
import path from 'node:path';
import { TOKEN_FLAG_REFUSED } from '../api-client.js';
import { type Command, parseCommandArgs, UsageError } from '../command.js';
import { configPath, contextProblems, readConfig, writeConfig, type CliConfig, type Context } from '../contexts/config-file.js';
import { outputFlags, outputFormat, outputUsage, printData, table, type OutputFormat } from '../output.js';

const usage = `Usage: hyphae config get-contexts [-o json|yaml|wide]
       hyphae config current-context
       hyphae config use-context <name>
       hyphae config set-context <name> [--control-plane <url>] [--ca-file <file>] [--token-file <file>]
       hyphae config delete-context <name>

The config file holds contexts, as kubeconfig does: each names a control plane
URL, the CA file that signs its certificate and the file holding its token.
Commands use the current context, or the one --context names:

  currentContext: prod
  contexts:
    - name: prod
      controlPlane: https://cp.example:15010
      caFile: /etc/hyphae/prod-ca-bundle.pem
      tokenFile: /home/me/.config/hyphae/prod-admin-token

File: HYPHAE_CONFIG, else $XDG_CONFIG_HOME/hyphae/config.yaml (~/.config/hyphae/config.yaml).
Relative paths in it are relative to it. It names the token's FILE, never the
token (refused, as --token is: the config file is copied around more than a
0600 token file). A config file that another user could have written (group or
world-writable, or not yours) is refused: it decides where tokens are sent.

Precedence, for each command: flags (--control-plane, --ca-file, --token-file),
then the environment (HYPHAE_CONTROL_PLANE, HYPHAE_CA_FILE, HYPHAE_ADMIN_TOKEN,
HYPHAE_ADMIN_TOKEN_FILE), then the current context. A context is used only when
it names the control plane: a flag or HYPHAE_CONTROL_PLANE naming one leaves the
file aside, so its token never goes to a URL it was not made for. --context
<name> picks a context over the environment (flags still win; --context with
--control-plane is refused).

set-context creates the context or changes the fields given (paths are stored
absolute); the first context made becomes the current one.

Options:
  --control-plane <url>  (set-context) the control plane's URL
  --ca-file <file>       (set-context) its CA bundle
  --token-file <file>    (set-context) the file holding its token
${outputUsage("(get-contexts) the config file's contexts", 'the same table')}
  -h, --help             show this help

Exit status: 0 done, 1 failed (a bad or unsafe config file, an unknown context), 2 bad usage.
`;

const VERBS = new Set(['get-contexts', 'current-context', 'use-context', 'set-context', 'delete-context']);

export const configCommand: Command = {
  name: 'config',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        'control-plane': { type: 'string' },
        'ca-file': { type: 'string' },
        'token-file': { type: 'string' },
        // Refused with the reason, rather than "unknown option".
        token: { type: 'string' },
        ...outputFlags(),
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    if (values.token !== undefined) throw new UsageError(TOKEN_FLAG_REFUSED);
    const [verb, name, ...extra] = positionals;
    if (verb !== undefined && !VERBS.has(verb)) throw new UsageError(`unknown config action "${verb}": ${[...VERBS].join(', ')}`);
    const needsName = verb === 'use-context' || verb === 'set-context' || verb === 'delete-context';
    if (verb === undefined) throw new UsageError('say what to do: get-contexts, current-context, use-context, set-context or delete-context');
    if (needsName ? name === undefined || extra.length > 0 : name !== undefined) {
      throw new UsageError(needsName ? `give one context name: hyphae config ${verb} <name>` : `${verb} takes no argument`);
    }
    const setFlags = values['control-plane'] !== undefined || values['ca-file'] !== undefined || values['token-file'] !== undefined;
    if (setFlags && verb !== 'set-context') throw new UsageError('--control-plane, --ca-file and --token-file go with set-context');
    if (values.output !== undefined && verb !== 'get-contexts') throw new UsageError('-o goes with get-contexts');
    const file = configPath();
    const config: CliConfig = (await readConfig(file)) ?? { contexts: [] };
    switch (verb) {
      case 'get-contexts':
        return getContexts(config, outputFormat(values), file);
      case 'current-context':
        if (config.currentContext === undefined) throw new Error(`no current context in ${file}: pick one with hyphae config use-context <name>`);
        process.stdout.write(`${config.currentContext}\n`);
        return 0;
      case 'use-context':
        if (!config.contexts.some((c) => c.name === name)) throw new Error(`no context "${name}" in ${file} (contexts: ${config.contexts.map((c) => c.name).join(', ') || 'none'})`);
        await writeConfig(file, { ...config, currentContext: name });
        process.stdout.write(`Switched to context "${name}".\n`);
        return 0;
      case 'set-context':
        return setContext(config, file, name!, values);
      case 'delete-context': {
        if (!config.contexts.some((c) => c.name === name)) throw new Error(`no context "${name}" in ${file}`);
        const left = config.contexts.filter((c) => c.name !== name);
        await writeConfig(file, { contexts: left, ...(config.currentContext !== name && config.currentContext !== undefined && { currentContext: config.currentContext }) });
        process.stdout.write(`Deleted context "${name}"${config.currentContext === name ? ' (it was the current one: none is now)' : ''}.\n`);
        return 0;
      }
    }
    return 2;
  },
};

async function getContexts(config: CliConfig, format: OutputFormat, file: string): Promise<number> {
  if (await printData(format, config)) return 0;
  if (config.contexts.length === 0) process.stderr.write(`no contexts in ${file}: add one with hyphae config set-context <name> --control-plane <url>\n`);
  else {
    process.stdout.write(
      table(
        ['CURRENT', 'NAME', 'CONTROL PLANE', 'CA FILE', 'TOKEN FILE'],
        config.contexts.map((c) => [c.name === config.currentContext ? '*' : '', c.name, c.controlPlane, c.caFile ?? '-', c.tokenFile ?? '-']),
      ),
    );
  }
  return 0;
}

async function setContext(config: CliConfig, file: string, name: string, values: { 'control-plane'?: string; 'ca-file'?: string; 'token-file'?: string }): Promise<number> {
  const existing = config.contexts.find((c) => c.name === name);
  const url = values['control-plane']?.replace(/\/+$/, '');
  if (!existing && url === undefined) throw new UsageError(`a new context needs --control-plane <url>`);
  const next: Context = {
    ...(existing ?? { name, controlPlane: url! }),
    ...(url !== undefined && { controlPlane: url }),
    // Absolute: a path is given relative to where the command runs, and the file is read from anywhere.
    ...(values['ca-file'] !== undefined && { caFile: path.resolve(values['ca-file']) }),
    ...(values['token-file'] !== undefined && { tokenFile: path.resolve(values['token-file']) }),
  };
  const contexts = existing ? config.contexts.map((c) => (c.name === name ? next : c)) : [...config.contexts, next];
  const first = config.currentContext === undefined && config.contexts.length === 0;
  const problems = await contextProblems(next);
  if (problems.length > 0) throw new UsageError(`context "${name}": ${problems.join('; ')}`);
  await writeConfig(file, { ...config, contexts, ...(first && { currentContext: name }) });
  process.stdout.write(`Context "${name}" ${existing ? 'modified' : 'created'}${first ? ' (and made the current context)' : ''}.\n`);
  return 0;
}
