/**
 * The floor under the proxy pair bench (bench/proxy-pair.ts): one side of a bare Node sidecar pair, what
 * issue 16's target asks of Node itself with no mesh logic at all. A child process of its own, as each
 * hyphae proxy and each nginx is, so that its CPU is read from /proc alone.
 *
 *   node bare-proxy.js client <server-side port> <cert dir>   plain HTTP in -> undici Pool, mTLS -> the server side
 *   node bare-proxy.js server <upstream port> <cert dir>      https.Server, client certificate required -> undici Pool -> upstream
 *
 * The certificates are nginx's (bench/lib/openssl-certs.ts). Keep-alive on every hop (75 s in, as nginx
 * and the hyphae proxies), the answer relayed with its status and headers, bodies streamed both ways. What
 * it leaves out is everything a mesh adds: discovery, routing, retries, authorization, deadlines,
 * identity headers, telemetry, the hop-by-hop rules beyond the framing fields. Prints `listening PORT`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Pool, type Dispatcher } from 'undici';

const [role, nextPort, certDir = ''] = process.argv.slice(2);
const file = (name: string) => readFileSync(path.join(certDir, name));

// Framing fields that belong to one connection: Node and undici write their own.
const SKIP = new Set(['connection', 'keep-alive', 'transfer-encoding']);

function relay(pool: Pool): http.RequestListener {
  return (req, res) => {
    const headers: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (!SKIP.has(req.rawHeaders[i]!.toLowerCase())) headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool.request({ path: req.url ?? '/', method: req.method as Dispatcher.HttpMethod, headers, body: hasBody ? req : undefined }).then(
      (answer) => {
        const out: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headers)) if (value !== undefined && !SKIP.has(name)) out[name] = value;
        res.writeHead(answer.statusCode, out);
        answer.body.pipe(res);
        res.once('close', () => answer.body.destroy());
      },
      () => {
        res.writeHead(502).end();
      },
    );
  };
}

let server: http.Server;
if (role === 'client') {
  const pool = new Pool(`https://127.0.0.1:${nextPort}`, {
    connect: { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key'), servername: 'bench.local' },
  });
  server = http.createServer(relay(pool));
} else if (role === 'server') {
  const pool = new Pool(`http://127.0.0.1:${nextPort}`);
  server = https.createServer({ key: file('server.key'), cert: file('server.crt'), ca: file('ca.crt'), requestCert: true, rejectUnauthorized: true }, relay(pool));
} else {
  throw new Error(`usage: bare-proxy.js client|server <next port> <cert dir> (got ${role})`);
}
server.keepAliveTimeout = 75_000;
server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => process.exit(0));
