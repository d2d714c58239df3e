/**
 * The `web` service: calls `api` by its mesh name with the zero-config
 * meshFetch (configured by HYPHAE_CONTROL_PLANE, HYPHAE_SERVICE, HYPHAE_TOKEN
 * and HYPHAE_CA_FILE). Both directions are mTLS.
 *
 *   HYPHAE_CONTROL_PLANE=https://127.0.0.1:15010 HYPHAE_SERVICE=web HYPHAE_TOKEN=<join token for web> \
 *   HYPHAE_CA_FILE=.hyphae/control-plane/ca-bundle.pem node build/examples/web/server.js
 */
import http from 'node:http';
import { getDefaultMesh, meshFetch, wrapServer } from 'hyphae';

/** Answers every request itself, a failed call to api included (502): the promise it returns never rejects. */
async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  try {
    const started = performance.now();
    const r = await meshFetch(`http://api${req.url === '/' ? '/items' : req.url}`);
    const api = (await r.json()) as unknown;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ service: 'web', api, apiMs: Math.round((performance.now() - started) * 10) / 10 }));
  } catch (err) {
    res.statusCode = 502;
    res.end(JSON.stringify({ error: (err as { code?: string }).code ?? String(err), message: (err as Error).message }));
  }
}

// http ignores what a 'request' listener returns, so an async listener's rejection would go unhandled:
// the listener only starts handle(), which answers its own failures.
const server = wrapServer(http.createServer((req, res) => void handle(req, res)));
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
const mesh = await getDefaultMesh();
mesh.handleSignals();
const registered = await mesh.registered(server);
console.log(`ready service=web instance=${registered?.id ?? '?'}`);
