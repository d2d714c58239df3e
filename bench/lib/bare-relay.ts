/**
 * The floor under the mesh gateway bench (bench/mesh-gateway.ts): a TCP relay in Node with no mesh logic,
 * what issue 17's target asks of Node itself. Every connection is piped to one fixed upstream with the
 * gateway's own per-chunk relay (src/mesh-gateway/relay.ts), but no ClientHello is read, nothing is routed,
 * counted or swept for idleness, and no mesh runs in the process. A child process of its own, as the
 * gateway and nginx are, so that its CPU is read from /proc alone.
 *
 *   node bare-relay.js <upstream port>      prints `listening PORT`
 */
import net, { type AddressInfo } from 'node:net';
import { relay } from '../../src/mesh-gateway/relay.js';

const upstreamPort = Number(process.argv[2]);
const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true, noDelay: true });
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  for (const s of [client, upstream]) {
    s.on('error', close);
    s.on('close', close);
  }
  relay(client, upstream);
  relay(upstream, client);
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
