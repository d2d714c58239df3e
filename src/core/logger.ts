/**
 * The library never writes to the console on its own: it reports through a Logger
 * the application gives it. The default is silent except for warnings and errors.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const noop = () => {};

/** Warnings and errors go to process.emitWarning, so they show up without a logger and can be silenced with --no-warnings. */
export const defaultLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (msg, fields) => process.emitWarning(fields ? `${msg} ${JSON.stringify(fields)}` : msg, 'HyphaeWarning'),
  error: (msg, fields) => process.emitWarning(fields ? `${msg} ${JSON.stringify(fields)}` : msg, 'HyphaeWarning'),
};

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
