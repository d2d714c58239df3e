/**
 * The mesh gateway's relay below Node's streams: a thread of the addon native/tcp-relay.c (Linux, built into
 * build/native by scripts/build-native.mjs) that moves a piped pair's bytes with recv()/send() on an
 * edge-triggered epoll, as nginx's stream module does. Node's own path costs the gateway a JavaScript
 * callback, a Buffer and the stream machinery per chunk, about 1.2x nginx's CPU per request however little
 * the gateway's JavaScript does (docs/benchmarks.md, the mesh gateway); the addon does the same work as
 * relay.ts (half-close passed on, errors close both, the idle timeout, backpressure) without them.
 *
 * The handover: Node stops reading both sockets, writes what it had read but not yet passed on (the
 * ClientHello, and anything after it), and once that is in the kernel gives the addon copies of the two
 * descriptors; the listener then closes Node's own. The addon says when a pair ends and why.
 */
import { createRequire } from 'node:module';
import type net from 'node:net';

export type RelayEnd = 'done' | 'error' | 'idle' | 'cut';

interface Binding {
  create(idleTimeoutMs: number, onEnd: (id: number, reason: RelayEnd, fromFirst: number, fromSecond: number) => void): object;
  add(relay: object, first: number, second: number): number;
  cutAll(relay: object): void;
  ref(relay: object): void;
  unref(relay: object): void;
  close(relay: object): void;
}

/** Which relay a listener uses: the addon when it loads ("auto"), always the addon ("native"), or Node's streams ("node"). */
export type RelayKind = 'auto' | 'native' | 'node';
export const RELAY_KINDS: readonly RelayKind[] = ['auto', 'native', 'node'];

let loaded: { binding: Binding } | { error: string } | undefined;

/** The addon, or why it is not there (not Linux, not built, built for another machine). Loaded once. */
export function loadNativeRelay(): { binding: Binding } | { error: string } {
  if (loaded) return loaded;
  if (process.platform !== 'linux') return (loaded = { error: `the native relay is Linux's (this is ${process.platform})` });
  try {
    loaded = { binding: createRequire(import.meta.url)('../../native/tcp-relay.node') as Binding };
  } catch (err) {
    loaded = { error: `build/native/tcp-relay.node did not load: ${(err as Error).message.split('\n')[0]}` };
  }
  return loaded;
}

type StreamHandle = { fd?: number; reading?: boolean; readStop?: () => number; readStart?: () => number };
const handleOf = (s: net.Socket): StreamHandle | undefined => (s as unknown as { _handle?: StreamHandle | null })._handle ?? undefined;

/** Stops Node reading `s` and returns what it had read that no one took. */
function stopReading(s: net.Socket): Buffer[] {
  const out: Buffer[] = [];
  for (let chunk: unknown; (chunk = s.read()) !== null;) out.push(chunk as Buffer);
  // After the reads above (read() may start the handle reading again), in the same tick: libuv delivers
  // nothing in between. `reading` false so that a fallback to Node's relay starts it again.
  const h = handleOf(s);
  h?.readStop?.();
  if (h) h.reading = false;
  return out;
}

/**
 * Starts Node reading `s` again after stopReading(), for Node's relay. Not `resume()` alone: the last read()
 * above left the Readable waiting for a read in flight (`reading`), so it would never start the handle.
 */
function restartReading(s: net.Socket): void {
  const h = handleOf(s);
  if (h === undefined || s.destroyed) return;
  h.reading = true;
  h.readStart?.();
}

function write(s: net.Socket, chunks: Buffer[]): Promise<void> {
  if (chunks.length === 0) return Promise.resolve();
  return new Promise((resolve) => s.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), () => resolve()));
}

export type HandOver = 'held' | 'closed' | 'refused';

export class NativeRelay {
  readonly #b: Binding;
  readonly #relay: object;
  readonly #ends = new Map<number, (reason: RelayEnd) => void>();
  #empty: (() => void)[] = [];
  #closed = false;

  constructor(binding: Binding, idleTimeoutMs: number) {
    this.#b = binding;
    this.#relay = binding.create(idleTimeoutMs, (id, reason) => this.#ended(id, reason));
  }

  /** Pairs the thread holds. */
  get size(): number {
    return this.#ends.size;
  }

  /**
   * Hands a connected pair over, `first` written to `b` before it (what was read from `a` to route it);
   * both are destroyed if what Node still had to write is not taken within `idleTimeoutMs`.
   * "held": the thread relays it now and calls `onEnd` once it ends, and the caller closes its own
   * sockets; "closed": a socket closed meanwhile; "refused": the addon could not take it (no descriptor
   * left to copy), and both sockets read again, `first` written, to be relayed by Node.
   */
  async handOver(a: net.Socket, b: net.Socket, first: Buffer, onEnd: (reason: RelayEnd) => void, idleTimeoutMs: number): Promise<HandOver> {
    if (!((handleOf(a)?.fd ?? -1) >= 0 && (handleOf(b)?.fd ?? -1) >= 0)) {
      b.write(first);
      return 'refused';
    }
    const toB = [first, ...stopReading(a)];
    const toA = stopReading(b);
    // A peer that takes none of those bytes (a zero window) holds the pair no longer than silence would.
    const timer = setTimeout(() => {
      a.destroy();
      b.destroy();
    }, idleTimeoutMs);
    await Promise.all([write(b, toB), write(a, toA)]);
    clearTimeout(timer);
    if (a.destroyed || b.destroyed || this.#closed) return 'closed';
    let id: number;
    try {
      id = this.#b.add(this.#relay, handleOf(a)!.fd!, handleOf(b)!.fd!);
    } catch {
      // No descriptor left to copy (EMFILE), or the relay's thread is gone: Node relays this pair.
      restartReading(a);
      restartReading(b);
      return 'refused';
    }
    if (this.#ends.size === 0) this.#b.ref(this.#relay);
    this.#ends.set(id, onEnd);
    return 'held';
  }

  /** Resolves once no pair is held. */
  whenEmpty(): Promise<void> {
    return this.#ends.size === 0 ? Promise.resolve() : new Promise((resolve) => this.#empty.push(resolve));
  }

  /** Cuts every pair held (each ends with "cut"). */
  cutAll(): void {
    if (!this.#closed) this.#b.cutAll(this.#relay);
  }

  /** Cuts every pair, waits for their ends, stops the thread. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.cutAll();
    await this.whenEmpty();
    this.#closed = true;
    this.#b.close(this.#relay);
  }

  #ended(id: number, reason: RelayEnd): void {
    const onEnd = this.#ends.get(id);
    if (onEnd === undefined) return;
    this.#ends.delete(id);
    if (this.#ends.size === 0) {
      this.#b.unref(this.#relay);
      const waiting = this.#empty;
      this.#empty = [];
      for (const resolve of waiting) resolve();
    }
    onEnd(reason);
  }
}
