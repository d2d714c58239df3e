/**
 * A real HTTP server process whose keep-alive idle timeout is short, for the
 * keep-alive race test (the race: test/helpers/keepalive-race.ts).
 * Usage: node keepalive-server.js <idleMs> <crossWindowMs>
 *
 * Prints `listening <port>`. GET /stats (on a fresh connection) answers the
 * counts as JSON.
 */
import http from 'node:http';
import { keepAliveRace } from './keepalive-race.js';

const race = keepAliveRace(Number(process.argv[2] ?? 50), Number(process.argv[3] ?? 4));

const server = http.createServer((req, res) => {
  if (req.url === '/stats') {
    res.setHeader('connection', 'close');
    res.end(JSON.stringify(race.stats));
    return;
  }
  race.handle(req, res);
});
// The race's own idle timer replaces Node's (which adds 1 s and sends a Keep-Alive hint).
server.keepAliveTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  console.log(`listening ${typeof addr === 'object' && addr ? addr.port : 0}`);
});
process.on('SIGTERM', () => process.exit(0));
