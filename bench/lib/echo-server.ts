/**
 * The server every client benchmark calls: a plain node:http server in its own
 * process (so it does not share the client's event loop), answering a small
 * fixed body. Prints `listening PORT`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const body = Buffer.from('{"ok":true,"service":"bench"}');
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => process.exit(0));
