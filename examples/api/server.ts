/**
 * The `api` service: answers with who it is, and who called it (the caller's
 * SPIFFE ID, verified by mTLS). It uses createMesh explicitly; see ../web for
 * the zero-config form.
 *
 *   HYPHAE_CONTROL_PLANE=https://127.0.0.1:15010 HYPHAE_TOKEN=<join token for api> \
 *   HYPHAE_CA_FILE=.hyphae/control-plane/ca-bundle.pem VERSION=v1 node build/examples/api/server.js
 */
import http from 'node:http';
import { createMesh, getPeer, meshOptionsFromEnv } from 'hyphae';

const fromEnv = meshOptionsFromEnv();
// VERSION, else a version in HYPHAE_LABELS (`version=v2,zone=zone-a`), else v1.
const version = process.env.VERSION ?? fromEnv.labels?.version ?? 'v1';
// Settings from HYPHAE_* variables (control plane, token, CA file, drain delay, labels such as zone...), then our own.
const mesh = await createMesh({ ...fromEnv, service: 'api', labels: { ...fromEnv.labels, version } });
mesh.handleSignals();

let instance = '?';
const server = mesh.wrapServer(
  http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    // getPeer: the identity from the caller's certificate, never from a header (undefined over plaintext).
    res.end(JSON.stringify({ service: 'api', instance, version, path: req.url, peer: getPeer(req)?.id ?? null }));
  }),
);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
const registered = await mesh.registered(server);
instance = registered?.id ?? instance;
console.log(`ready service=api instance=${instance} version=${version}`);
