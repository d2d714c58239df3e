/**
 * Which request bodies a retry may send again. Only bodies held in memory,
 * up to maxReplayBytes (64 KiB by default), are replayed:
 *
 * - none, a string, a Buffer / Uint8Array: as they are (undici does not consume them);
 * - an array of chunks: joined into one Buffer up front;
 * - a stream or async iterable (mesh.fetch always sends one) whose
 *   Content-Length is known and small enough: read into a Buffer before the
 *   first attempt. fetch() sets Content-Length for strings, buffers, blobs and
 *   URLSearchParams bodies, so those stay retryable.
 *
 * A stream of unknown length is never buffered: waiting for its end before
 * sending could deadlock a protocol where the server answers before the body
 * ends, and it could be unbounded. Such a body is not replayable, and a retry it
 * needed fails with HYPHAE_ERR_BODY_NOT_REPLAYABLE. A stream that turns out
 * longer than announced is sent on as a stream (the bytes read are put back in front).
 *
 * A buffered body goes on a copy of the call's options (`call.opts` is
 * replaced, the caller's object is never edited).
 *
 * The read happens after the call's timer is armed and its limit slot taken,
 * before any attempt exists to carry an abort: a producer that stalls would
 * otherwise hold the call past its deadline, for ever. So the read registers
 * itself as the call's abort hook; the call's deadline, the inbound request's
 * cancellation and the application's abort end it, and the stream is closed.
 */
import type { Dispatcher } from 'undici';
import { getHeader } from '../call/headers.js';
import { withOptions } from '../call/options-copy.js';

type Body = Dispatcher.DispatchOptions['body'];

/** What holds the request's options and can stop a wait: a MeshCall. */
interface HasOpts {
  opts: Dispatcher.DispatchOptions;
  readonly abortReason?: Error | undefined;
  setOnAbort?(fn: ((err: Error) => void) | undefined): void;
}

/**
 * True when the call's body can be sent again (after buffering it if needed).
 * Synchronous for bodies already in memory (the common case costs no promise);
 * a promise only when a stream has to be read.
 */
export function prepareReplayableBody(call: HasOpts, maxBytes: number): boolean | Promise<boolean> {
  const opts = call.opts;
  const body = opts.body as unknown;
  if (body == null) return true;
  if (typeof body === 'string') {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: short strings need no byte count.
    return body.length * 3 <= maxBytes || (body.length <= maxBytes && Buffer.byteLength(body) <= maxBytes);
  }
  if (body instanceof Uint8Array) return body.byteLength <= maxBytes;
  if (Array.isArray(body)) return joinChunks(call, body, maxBytes);
  if (isAsyncIterable(body)) {
    const declared = Number(getHeader(opts.headers, 'content-length'));
    if (!Number.isInteger(declared) || declared < 0 || declared > maxBytes) return false;
    return readSmallStream(call, body, maxBytes);
  }
  // FormData, Blob, sync iterators, unknown shapes: sent as they are, never replayed.
  return false;
}

function joinChunks(call: HasOpts, chunks: unknown[], maxBytes: number): boolean {
  let total = 0;
  const bufs: Buffer[] = [];
  for (const c of chunks) {
    const b = typeof c === 'string' ? Buffer.from(c) : c instanceof Uint8Array ? Buffer.from(c.buffer, c.byteOffset, c.byteLength) : undefined;
    if (b === undefined) return false;
    total += b.length;
    if (total > maxBytes) return false;
    bufs.push(b);
  }
  setBody(call, Buffer.concat(bufs, total));
  return true;
}

function setBody(call: HasOpts, body: unknown): void {
  call.opts = withOptions(call.opts, { body: body as Body });
}

async function readSmallStream(call: HasOpts, body: AsyncIterable<unknown>, maxBytes: number): Promise<boolean> {
  if (call.abortReason !== undefined) throw call.abortReason;
  const it = body[Symbol.asyncIterator]();
  let stop!: (err: Error) => void;
  const aborted = new Promise<never>((_resolve, reject) => (stop = reject));
  aborted.catch(() => {});
  call.setOnAbort?.((err) => {
    call.setOnAbort?.(undefined);
    stop(err);
    // The call is over: release the application's stream as undici would on abort (a Readable is destroyed).
    // An async generator stuck in an await only queues this; either way nobody waits on it.
    Promise.resolve()
      .then(() => it.return?.())
      .catch(() => {});
  });
  try {
    return await readChunks(call, it, aborted, maxBytes);
  } finally {
    call.setOnAbort?.(undefined);
  }
}

async function readChunks(call: HasOpts, it: AsyncIterator<unknown>, aborted: Promise<never>, maxBytes: number): Promise<boolean> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const r = await Promise.race([it.next(), aborted]);
    if (r.done) break;
    const c = r.value;
    const b = typeof c === 'string' ? Buffer.from(c) : c instanceof Uint8Array ? Buffer.from(c.buffer, c.byteOffset, c.byteLength) : undefined;
    if (b === undefined) {
      setBody(call, resume(chunks, c, it));
      return false;
    }
    chunks.push(b);
    total += b.length;
    if (total > maxBytes) {
      // Longer than announced: send what we read, then the rest, as a stream.
      setBody(call, resume(chunks, undefined, it));
      return false;
    }
  }
  setBody(call, Buffer.concat(chunks, total));
  return true;
}

async function* resume(read: Buffer[], odd: unknown, rest: AsyncIterator<unknown>): AsyncGenerator<unknown> {
  yield* read;
  if (odd !== undefined) yield odd;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

function isAsyncIterable(v: unknown): v is AsyncIterable<unknown> {
  return typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function';
}
