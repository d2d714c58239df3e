/**
 * The handler shapes undici speaks. The mesh talks to undici's core in the
 * legacy shape (onConnect/onHeaders/onData/onComplete/onError): undici's core
 * speaks it natively, so it costs no conversion. An application's new-style
 * (controller) handler is adapted once per call.
 */
import type { Dispatcher } from 'undici';

/** The legacy (undici 6 style) handler shape: undici's own core speaks it, so it costs no conversion. */
export interface LegacyHandler {
  onConnect?(abort: (err?: Error) => void, context?: object): void;
  onResponseStarted?(): void;
  onHeaders?(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: string[] | Buffer[] | null): void;
  onError?(err: Error): void;
  onUpgrade?(statusCode: number, rawHeaders: Buffer[], socket: unknown): void;
}

/** Adapts a new-style (undici 7 controller) handler to the legacy calls the mesh makes. */
export function toLegacyHandler(handler: Dispatcher.DispatchHandler): LegacyHandler {
  const h = handler as Dispatcher.DispatchHandler & LegacyHandler;
  // The adapter is a function of its own: its closures' context would otherwise be allocated on every call.
  return typeof h.onRequestStart !== 'function' ? h : adaptControllerHandler(h);
}

function adaptControllerHandler(h: Dispatcher.DispatchHandler & LegacyHandler): LegacyHandler {
  let paused = false;
  let aborted = false;
  let reason: Error | null = null;
  let abortFn: (err?: Error) => void = () => {};
  let resumeFn: (() => void) | undefined;
  const controller = {
    abort(r: Error) {
      if (aborted) return;
      aborted = true;
      reason = r;
      abortFn(r);
    },
    pause() {
      paused = true;
    },
    resume() {
      if (!paused) return;
      paused = false;
      resumeFn?.();
    },
    get paused() {
      return paused;
    },
    get aborted() {
      return aborted;
    },
    get reason() {
      return reason;
    },
    rawHeaders: null as Buffer[] | null,
    rawTrailers: null as Buffer[] | null,
  };
  return {
    onConnect(abort) {
      abortFn = abort;
      h.onRequestStart!(controller as unknown as Dispatcher.DispatchController, {});
    },
    onHeaders(statusCode, rawHeaders, resume, statusText) {
      resumeFn = resume;
      controller.rawHeaders = rawHeaders;
      h.onResponseStart?.(controller as unknown as Dispatcher.DispatchController, statusCode, parseRawHeaders(rawHeaders), statusText);
      return !paused;
    },
    onData(chunk) {
      h.onResponseData?.(controller as unknown as Dispatcher.DispatchController, chunk);
      return !paused;
    },
    onComplete(trailers) {
      h.onResponseEnd?.(controller as unknown as Dispatcher.DispatchController, parseRawHeaders((trailers ?? []) as Buffer[]));
    },
    onError(err) {
      h.onResponseError?.(controller as unknown as Dispatcher.DispatchController, err);
    },
  };
}

export function parseRawHeaders(raw: readonly (Buffer | string)[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!.toString().toLowerCase();
    const val = raw[i + 1]!.toString();
    const prev = out[key];
    if (prev === undefined) out[key] = val;
    else if (Array.isArray(prev)) prev.push(val);
    else out[key] = [prev, val];
  }
  return out;
}
