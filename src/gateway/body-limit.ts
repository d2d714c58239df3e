/**
 * The Gateway's `edge.maxRequestBodyBytes` (nginx's client_max_body_size):
 * a declared length over it is answered 413 before anything is sent; a
 * chunked body is counted as it streams into the mesh and cut past it, which
 * fails the forwarded call with HYPHAE_ERR_PAYLOAD_TOO_LARGE (413 when no
 * answer has started, edge/error-response.ts).
 */
import type http from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { ErrorCode, MeshError } from '../core/errors.js';

export function tooLarge(max: number): MeshError {
  return new MeshError(ErrorCode.PAYLOAD_TOO_LARGE, `the request body exceeds ${max} bytes (the gateway's edge.maxRequestBodyBytes)`, {
    rejected: true,
    details: { maxRequestBodyBytes: max },
  });
}

class CountingBody extends Transform {
  #left: number;
  readonly #max: number;
  constructor(max: number) {
    super();
    this.#max = max;
    this.#left = max;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#left -= chunk.length;
    if (this.#left < 0) return done(tooLarge(this.#max));
    done(null, chunk);
  }
}

/**
 * 'over': the declared length is too large (answer 413 now). A stream: the body to send, counted.
 * undefined: send the request itself (a declared length within the limit, or no body).
 */
export function limitBody(req: http.IncomingMessage, max: number): 'over' | Transform | undefined {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > max ? 'over' : undefined;
  if (req.headers['transfer-encoding'] === undefined) return undefined;
  const counted = new CountingBody(max);
  req.pipe(counted);
  // The client leaving mid-body must end the upstream body too.
  req.once('aborted', () => counted.destroy(new Error('the client closed the connection mid-body')));
  return counted;
}
