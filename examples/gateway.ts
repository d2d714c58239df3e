/**
 * An ingress gateway in a few lines (issue 16): `hyphae gateway --name edge`
 * does the same from the command line. Apply a Gateway and a Route first
 * (examples/gateway/*.yaml), with a control plane running:
 *
 *   HYPHAE_CONTROL_PLANE=https://127.0.0.1:15010 HYPHAE_CA_FILE=... HYPHAE_TOKEN=<join token for "edge"> \
 *     node build/examples/gateway.js
 *
 * then `curl http://127.0.0.1:8080/` reaches the Route's backend over mTLS, as spiffe://.../sa/edge.
 */
// As startProxy, startGateway is not a package export (the CLI is the product); the bench and tests import it by path.
import { optionsFromEnv } from '../src/mesh/env.js';
import { startGateway } from '../src/gateway/start-gateway.js';

// GATEWAY_ADMIN_PORT: where /healthz and /readyz listen on loopback (default 15021; 0: any free port).
const adminPort = process.env.GATEWAY_ADMIN_PORT;
const gateway = await startGateway({
  mesh: optionsFromEnv(process.env),
  name: process.env.GATEWAY ?? 'edge',
  ...(adminPort !== undefined ? { admin: { host: '127.0.0.1', port: Number(adminPort) } } : {}),
});
await gateway.ready;
for (const [port, a] of gateway.addresses) console.log(`gateway: Gateway port ${port} listening on ${a.host}:${a.port}`);
console.log(`gateway: /healthz and /readyz on ${gateway.adminAddress?.host}:${gateway.adminAddress?.port}`);
process.once('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
process.once('SIGINT', () => void gateway.close().then(() => process.exit(0)));
