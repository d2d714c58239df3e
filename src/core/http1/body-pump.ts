import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { errors } from 'undici';

/** The connection a body is written on, as the pump sees it. */
export interface PumpTarget {
  readonly socket: Socket;
  /** The body was written whole (undefined), or failed (the request fails with it). */
  bodyWritten(err: Error | undefined): void;
}

/**
 * A request body streamed onto the connection: chunked unless its length was declared (then counted, and a
 * body longer or shorter than said fails the request), the stream paused while the socket is full.
 */
export class BodyPump {
  #conn: PumpTarget;
  #body: Readable;
  #declared: number;
  #written = 0;
  #stopped = false;
  readonly #onData = (chunk: Buffer | string): void => this.#data(chunk);
  readonly #onEnd = (): void => this.#end();
  readonly #onError = (err: Error): void => this.#finish(err);
  readonly #onClose = (): void => this.#finish(new errors.RequestAbortedError('request body closed before its end'));
  readonly #onDrain = (): void => {
    if (!this.#stopped) this.#body.resume();
  };

  constructor(conn: PumpTarget, body: Readable, declared: number) {
    this.#conn = conn;
    this.#body = body;
    this.#declared = declared;
    body.on('data', this.#onData);
    body.on('end', this.#onEnd);
    body.on('error', this.#onError);
    body.on('close', this.#onClose);
    if (body.readableEnded) this.#end();
    else if (body.destroyed) this.#finish(new errors.RequestAbortedError('request body closed before its end'));
    else body.resume();
  }

  /** The request is over (answered early, failed): stop reading the body, leave it to its owner. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const body = this.#body;
    body.off('data', this.#onData);
    body.off('end', this.#onEnd);
    body.off('error', this.#onError);
    body.off('close', this.#onClose);
    this.#conn.socket.off('drain', this.#onDrain);
    body.pause();
  }

  #data(chunk: Buffer | string): void {
    if (this.#stopped) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (bytes.length === 0) return;
    this.#written += bytes.length;
    if (this.#declared >= 0 && this.#written > this.#declared) return this.#finish(new errors.RequestContentLengthMismatchError('Request body length does not match content-length header'));
    const socket = this.#conn.socket;
    let ok: boolean;
    if (this.#declared >= 0) ok = socket.write(bytes);
    else {
      socket.cork();
      socket.write(`${bytes.length.toString(16)}\r\n`, 'latin1');
      socket.write(bytes);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    }
    if (!ok) {
      this.#body.pause();
      socket.once('drain', this.#onDrain);
    }
  }

  #end(): void {
    if (this.#stopped) return;
    if (this.#declared >= 0 && this.#written !== this.#declared) return this.#finish(new errors.RequestContentLengthMismatchError('Request body length does not match content-length header'));
    if (this.#declared < 0) this.#conn.socket.write('0\r\n\r\n', 'latin1');
    this.#finish(undefined);
  }

  #finish(err: Error | undefined): void {
    if (this.#stopped) return;
    this.stop();
    this.#conn.bodyWritten(err);
  }
}
