/**
 * HTTP/1.1 over a raw TCP socket: the request target goes on the wire exactly
 * as given (no client library normalizes it), and the answer is read until
 * the server closes the connection.
 */
import net from 'node:net';

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawRequest {
  method?: string;
  target: string;
  /** Sent in order, duplicates allowed. */
  headers?: readonly (readonly [string, string])[];
}

export function rawRequest(port: number, req: RawRequest, timeoutMs = 5_000): Promise<RawReply> {
  const head = [`${req.method ?? 'GET'} ${req.target} HTTP/1.1`, 'Host: localhost', 'Connection: close', ...(req.headers ?? []).map(([n, v]) => `${n}: ${v}`)];
  return rawExchange(port, `${head.join('\r\n')}\r\n\r\n`, timeoutMs);
}

/** Write `bytes`, read until the server closes; parse the (first) response. */
export function rawExchange(port: number, bytes: string, timeoutMs = 5_000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes, 'latin1'));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms to ${JSON.stringify(bytes.split('\r\n')[0])}`));
    }, timeoutMs);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parse(Buffer.concat(chunks).toString('latin1')));
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

function parse(text: string): RawReply {
  // Interim answers (100 Continue, 103 Early Hints) come before the real one; 101 is final for an upgrade.
  while (/^HTTP\/1\.[01] 1(0[02-9]|[1-9]\d)/.test(text)) text = text.slice(text.indexOf('\r\n\r\n') + 4);
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine!);
  if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const colon = l.indexOf(':');
    headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
  }
  let body = text.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status: Number(m[1]), headers, body };
}

function dechunk(s: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const eol = s.indexOf('\r\n', i);
    const size = parseInt(s.slice(i, eol), 16);
    if (!(size > 0)) return out;
    out += s.slice(eol + 2, eol + 2 + size);
    i = eol + 2 + size + 2;
  }
}
