/** `hyphae completion bash|zsh`: a shell completion script, generated from the commands' own flag definitions. */
import { type Command, parseCommandArgs, UsageError } from '../command.js';
import { bashCompletion } from '../completion/bash-completion.js';
import { completionSpecs } from '../completion/completion-spec.js';
import { zshCompletion } from '../completion/zsh-completion.js';

const usage = `Usage: hyphae completion bash|zsh

Print a script that makes the shell complete hyphae's commands, their flags
and their first words (hyphae ca <Tab> -> show rotate retire). It is made from
the flags each command parses, so it is never behind them.

  bash:  source <(hyphae completion bash)        (in ~/.bashrc; needs bash-completion
         or: hyphae completion bash > ~/.local/share/bash-completion/completions/hyphae)
  zsh:   source <(hyphae completion zsh)         (in ~/.zshrc)

Options:
  -h, --help  show this help

Exit status: 0 printed, 2 bad usage (no shell, or one not supported).
`;

/** The flags main.ts reads before any command. */
const TOP_FLAGS = ['--help', '-h', '--version', '-v'];

/** `all`: every command loaded, this one included; given by ./index.ts, which lists them (an import of it would be a cycle). */
export const completionCommand = (all: () => Promise<readonly Command[]>): Command => ({
  name: 'completion',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs({ args, strict: true, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const shell = positionals[0];
    if (positionals.length !== 1 || (shell !== 'bash' && shell !== 'zsh')) throw new UsageError('name the shell: hyphae completion bash, or hyphae completion zsh');
    const specs = await completionSpecs(await all());
    process.stdout.write(shell === 'bash' ? bashCompletion(specs, TOP_FLAGS) : zshCompletion(specs, TOP_FLAGS));
    return 0;
  },
});
