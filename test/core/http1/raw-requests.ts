/** Request heads read off a raw test server's socket: for the raw HTTP/1.1 transport's tests (pool*.test.ts). */
import type net from 'node:net';

/** Calls `onRequest` with each request's head (text) as it arrives on a raw socket; bodies of Content-Length are skipped. */
export function eachRequest(s: net.Socket, onRequest: (head: string, index: number) => void): void {
  let buf = Buffer.alloc(0);
  let n = 0;
  s.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.toString('latin1', 0, end);
      const m = /\r\ncontent-length: *(\d+)/i.exec(head);
      const length = m ? Number(m[1]) : 0;
      if (buf.length < end + 4 + length) return;
      buf = buf.subarray(end + 4 + length);
      onRequest(head, n++);
    }
  });
}
