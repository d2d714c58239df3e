/**
 * The server of the HTTP/2 client benchmark (bench/h2-client.ts): a plain `node:http2` secure server
 * (allowHTTP1, mTLS: requestCert) in its own process, the same handler on two listeners that differ only
 * by their workload certificate (one per mesh service, since the client checks the server's SPIFFE ID
 * against the destination). `/` answers 29 bytes, `/large` 1 MiB.
 *
 * Run as `node build/bench/h2-client.js serve` with H2_BENCH_CA and H2_BENCH_CERTS (JSON [{ key, cert }]);
 * prints `listening PORT PORT`.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

const small = Buffer.from('{"ok":true,"service":"bench"}');
const large = Buffer.alloc(1024 * 1024, 'x');

const handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void => {
  const body = req.url === '/large' ? large : small;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(body);
};

export async function serveH2Echo(): Promise<void> {
  const ca = process.env.H2_BENCH_CA!;
  const certs = JSON.parse(process.env.H2_BENCH_CERTS!) as { key: string; cert: string }[];
  const ports: number[] = [];
  for (const { key, cert } of certs) {
    const server = http2.createSecureServer({ key, cert, ca, requestCert: true, rejectUnauthorized: true, allowHTTP1: true }, handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports.push((server.address() as AddressInfo).port);
  }
  console.log(`listening ${ports.join(' ')}`);
  process.on('SIGTERM', () => process.exit(0));
}
