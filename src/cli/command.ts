/**
 * A `hyphae` sub-command: one file per command under ./commands, listed in
 * ./commands/index.ts. `run` resolves with the exit code; a UsageError means
 * the command line was wrong (exit 2), any other error a failure (exit 1, or
 * the command's failureExitCode). The codes are listed in docs/usage.md.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  name: string;
  /** One line, for `hyphae --help`. */
  summary: string;
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

/** node:util parseArgs for a command line, its errors as usage errors. */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw asUsageError(err);
  }
}
