#!/usr/bin/env node
/** The `hyphae` command: dispatches to one of ./commands. */
import nodeModule from 'node:module';
import { PACKAGE_VERSION } from '../core/version.js';
import { UsageError, type Command } from './command.js';
import { commands } from './commands/index.js';

// Node 22.1+ keeps V8's compiled code of the modules a command loads on disk (the OS temp folder, as tsc
// does; NODE_DISABLE_COMPILE_CACHE=1 turns it off): every later start of the command skips compiling them
// again. Before any command's module is imported, which is below, on demand.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const list = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n');
  return `Usage: hyphae <command> [options]

hyphae is a proxyless service mesh for Node.js.

Commands:
${list}

Options:
  -h, --help     show this help (or "hyphae <command> --help" for a command)
  -v, --version  print the version

Exit status: 0 done, 1 failed (hyphae diff: differences; hyphae check: a check
failed), 2 bad usage. See docs/usage.md.
`;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(help());
    return 2;
  }
  if (first === '-h' || first === '--help') {
    process.stdout.write(help());
    return 0;
  }
  if (first === '-v' || first === '--version') {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return 0;
  }
  if (first === 'help') {
    const entry = commands.find((c) => c.name === rest[0]);
    process.stdout.write(entry ? (await entry.load()).usage : help());
    return 0;
  }
  const entry = commands.find((c) => c.name === first);
  if (!entry) {
    process.stderr.write(`hyphae: unknown command "${first}"\n\n${help()}`);
    return 2;
  }
  const command: Command = await entry.load();
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`hyphae ${command.name}: ${err.message}\nRun "hyphae ${command.name} --help" for usage.\n`);
      return 2;
    }
    // The stable code first, when there is one: what scripts and runbooks match on.
    const code = (err as { code?: unknown })?.code;
    const message = err instanceof Error ? err.message : String(err);
    const coded = typeof code === 'string' && code.startsWith('HYPHAE_ERR_') && !message.includes(code) ? `${code}: ${message}` : message;
    process.stderr.write(`hyphae ${command.name}: ${coded}\n`);
    return command.failureExitCode ?? 1;
  }
}

// `hyphae get ... | head`: the reader is gone and has what it wanted. Without a listener the EPIPE is an
// uncaught exception (a stack trace, exit 1). A command that only reads stops quietly, like a Unix tool
// killed by SIGPIPE (exit 0, not 141, so `set -o pipefail` scripts do not fail on `| head`); one that
// changes something carries on to the end with nobody reading its output, rather than stop half-way.
const READ_ONLY = new Set(['get', 'describe', 'diff', 'schema', 'status', 'top', 'tap', 'check', 'version', 'completion']);
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    if (READ_ONLY.has(process.argv[2] ?? '')) process.exit(0);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    // exitCode rather than exit(): stdout may be an asynchronous pipe (macOS) still flushing the output.
    process.exitCode = code;
    // A finished command must not linger on a handle some library left open.
    setTimeout(() => process.exit(code), 2_000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`hyphae: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 2_000).unref();
  },
);
