/**
 * The certificates of a gateway's HTTPS listeners: read from their files
 * into secure contexts, one per listener, chosen per connection by SNI
 * (routing.listenerFor). Files are checked for a change (mtime and size) on
 * every config snapshot and every `certificateCheckMs`, and re-read when one
 * changed, so a renewed certificate (certbot, cert-manager's files) is served
 * to new connections without a restart; a file that fails to load keeps the
 * last good context and is logged.
 */
import { statSync, readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Logger } from '../core/logger.js';
import type { ListenerSpec } from '../config/resources/gateway.js';

export interface LoadedCertificate {
  readonly stamp: string;
  readonly context: tls.SecureContext;
  /** The PEMs too: server.setSecureContext (the answer to a ClientHello without SNI) takes options, not a context. */
  readonly cert: Buffer;
  readonly key: Buffer;
}

function stampOf(file: string): string {
  const s = statSync(file);
  return `${s.mtimeMs}:${s.size}:${s.ino}`;
}

function idOf(listener: string, files: { certificateFile: string; keyFile: string }): string {
  return `${listener}\0${files.certificateFile}\0${files.keyFile}`;
}

export class TlsContexts {
  readonly #loaded = new Map<string, LoadedCertificate>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /**
   * The listener's context as last loaded, for a ClientHello: no file is looked at. Files are checked on
   * every snapshot and every `certificateCheckMs` (refresh), not per handshake, where two statSync calls
   * would block the event loop for each new connection.
   */
  current(listener: ListenerSpec): LoadedCertificate | undefined {
    const files = listener.tls;
    if (files === undefined) return undefined;
    return this.#loaded.get(idOf(listener.name, files)) ?? this.refresh(listener);
  }

  /** The listener's context, loading or re-loading its files when they changed; undefined when they never loaded. */
  refresh(listener: ListenerSpec): LoadedCertificate | undefined {
    const files = listener.tls;
    if (files === undefined) return undefined;
    const id = idOf(listener.name, files);
    const last = this.#loaded.get(id);
    try {
      const stamp = `${stampOf(files.certificateFile)}|${stampOf(files.keyFile)}`;
      if (last?.stamp === stamp) return last;
      const cert = readFileSync(files.certificateFile);
      const key = readFileSync(files.keyFile);
      const loaded = { stamp, cert, key, context: tls.createSecureContext({ cert, key }) };
      this.#loaded.set(id, loaded);
      if (last) this.#logger.info('hyphae gateway: certificate reloaded', { listener: listener.name, file: files.certificateFile });
      return loaded;
    } catch (err) {
      this.#logger.error('hyphae gateway: cannot load the listener certificate; keeping the last good one', {
        listener: listener.name,
        certificateFile: files.certificateFile,
        error: (err as Error).message,
      });
      return last;
    }
  }

  /** Forget listeners that are gone. */
  retain(listeners: readonly ListenerSpec[]): void {
    const keep = new Set(listeners.flatMap((l) => (l.tls ? [idOf(l.name, l.tls)] : [])));
    for (const k of this.#loaded.keys()) if (!keep.has(k)) this.#loaded.delete(k);
  }
}
