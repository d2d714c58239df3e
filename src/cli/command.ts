/**
 * A `hyphae` sub-command: one file per command under ./commands, listed in
 * ./commands/index.ts (with its one-line summary). `run` resolves with the exit code; a UsageError means
 * the command line was wrong (exit 2), any other error a failure (exit 1, or
 * the command's failureExitCode). The codes are listed in docs/usage.md.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  name: string;
  /** The full help text, for `hyphae <name> --help`. */
  usage: string;
  run(args: string[]): Promise<number>;
  /**
   * The exit code of a failure (an error thrown by run), 1 unless said: `diff` keeps 1 for "there are
   * differences", as kubectl and diff(1) do, so its failures exit 2.
   */
  failureExitCode?: number;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** node:util parseArgs errors are usage errors; keep their first sentence, which names the bad option. */
export function asUsageError(err: unknown): unknown {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    return new UsageError((err as Error).message.split('. ')[0]!.replace(/\.$/, ''));
  }
  return err;
}

export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/** Set while declaredOptions() asks a command for its flags: parseCommandArgs hands them over and stops the run. */
let capture: ((options: CommandOptions) => void) | undefined;

class OptionsCaptured extends Error {}

/**
 * The flags a command declares, read from the parseCommandArgs call it makes first thing in run(), so that
 * shell completion is generated from the definitions themselves and never drifts from them. The run stops
 * there, before it has done anything (a command that did something before parsing its arguments would be
 * a bug twice over; test/cli/completion.test.ts checks that every command hands its flags over).
 */
export async function declaredOptions(command: Command): Promise<CommandOptions | undefined> {
  let seen: CommandOptions | undefined;
  capture = (options) => (seen = options);
  try {
    await command.run([]);
  } catch (err) {
    if (!(err instanceof OptionsCaptured)) throw err;
  } finally {
    capture = undefined;
  }
  return seen;
}

/** node:util parseArgs for a command line, its errors as usage errors. */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  if (capture) {
    capture(config.options ?? {});
    throw new OptionsCaptured();
  }
  try {
    return parseArgs(config);
  } catch (err) {
    throw asUsageError(err);
  }
}
