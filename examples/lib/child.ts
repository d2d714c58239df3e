/**
 * Child processes for the demo and the integration tests: start a node
 * script, wait for the line that says it is ready, and make sure it dies with
 * the parent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The repository root (this file runs from build/examples/lib/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const buildDir = path.join(repoRoot, 'build');
export const cliPath = path.join(buildDir, 'src/cli/main.js');

export interface Child {
  proc: ChildProcess;
  /** Every line printed so far on stdout and stderr, for assertions and for failure reports. */
  lines: string[];
  /** Resolves with the first match of `re` on any output line (past or future). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

const live = new Set<ChildProcess>();
/** SIGKILLs every child started here that is still running. */
export function killAllChildren(): void {
  for (const p of live) p.kill('SIGKILL');
}
process.on('exit', killAllChildren);

/**
 * `launcher`: a command that execs the rest of its arguments (e.g. `['prlimit', '--nofile=200']`), so the child
 * runs with its settings and keeps the pid (for /proc/<pid> and signals).
 */
export function startNode(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, launcher: readonly string[] = []): Child {
  const [file, ...rest] = [...launcher, process.execPath, script, ...args] as [string, ...string[]];
  return startCommand(file, rest, env, script);
}

/** Any command (e.g. node under `unshare`), with the same line handling; `script` names it in messages. */
export function startCommand(command: string, args: string[], env: NodeJS.ProcessEnv = {}, script = command): Child {
  const proc = spawn(command, args, {
    env: { ...process.env, NODE_NO_WARNINGS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  const lines: string[] = [];
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onLine = (line: string) => {
    lines.push(line);
    if (process.env.HYPHAE_VERBOSE_CHILDREN) process.stderr.write(`[${path.basename(script)} ${proc.pid}] ${line}\n`);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const m = line.match(waiters[i]!.re);
      if (m) {
        waiters[i]!.resolve(m);
        waiters.splice(i, 1);
      }
    }
  };
  createInterface({ input: proc.stdout! }).on('line', onLine);
  createInterface({ input: proc.stderr! }).on('line', onLine);
  const exited = once(proc, 'exit').then(([code]) => {
    live.delete(proc);
    return code as number | null;
  });

  return {
    proc,
    lines,
    exited,
    // The default is a ceiling against a stalled child, not an expectation: on a busy 2-core machine a
    // child loading the mesh or the control plane can take several seconds to say it is ready, and with
    // ~30 runnable processes on the 2 cores an api instance of the demo once took more than 30 s.
    waitFor(re, timeoutMs = 120_000) {
      for (const line of lines) {
        const m = line.match(re);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${re} from ${script}; output:\n${lines.join('\n')}`));
        }, timeoutMs);
        const waiter = {
          re,
          resolve: (m: RegExpMatchArray) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        waiters.push(waiter);
        void exited.then((code) => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) {
            waiters.splice(i, 1);
            clearTimeout(timer);
            reject(new Error(`${script} exited (${code}) before printing ${re}; output:\n${lines.join('\n')}`));
          }
        });
      });
    },
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}
