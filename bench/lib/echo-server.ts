/**
 * The server every client benchmark calls: a plain node:http server in its own
 * process (so it does not share the client's event loop), answering a small
 * fixed body. Prints `listening PORT`. DELAY_MS=n answers n ms late (a slow
 * instance, for the balancer benchmark).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const body = Buffer.from('{"ok":true,"service":"bench"}');
const delayMs = Number(process.env.DELAY_MS ?? 0);
// A delayed server says so, so that a client can count what it got from it.
const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': body.length };
if (delayMs > 0) headers['x-delayed-ms'] = String(delayMs);
const answer = (res: http.ServerResponse) => {
  res.writeHead(200, headers);
  res.end(body);
};
const server = http.createServer((_req, res) => {
  if (delayMs > 0) setTimeout(answer, delayMs, res);
  else answer(res);
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => process.exit(0));
