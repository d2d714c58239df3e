/**
 * Node's default on SIGINT and SIGTERM ends the process without running its
 * 'exit' hooks — the hooks that kill a bench's children (examples/lib/child.ts,
 * bench/lib/nginx.ts). While a bench runs, those signals exit through them.
 * Returns the function that restores the defaults.
 */
export function exitOnSignals(): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping the bench and the processes it started\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
