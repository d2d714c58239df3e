/**
 * `hello-web`: an HTTP service built with the library that calls the `greeter` gRPC service through the
 * mesh: `meshGrpcClient` gives grpc-js the target (`hyphae:///greeter`, the mesh's discovery and balancer),
 * credentials (the workload's SVID, greeter's SPIFFE ID checked) and interceptors (deadline, retries,
 * telemetry). A gRPC call made while handling a request gets the time that request has left: the HTTP
 * caller's `x-hyphae-deadline-ms` becomes the call's `grpc-timeout`, so one budget crosses the HTTP -> gRPC hop.
 *
 *   GET /hello?name=ada              greeter's SayHello, as JSON (with the budget this request arrived with)
 *   GET /stream?name=ada&count=3     greeter's StreamGreetings, every message
 *
 *   HYPHAE_CONTROL_PLANE=https://127.0.0.1:15010 HYPHAE_SERVICE=hello-web HYPHAE_TOKEN=<join token> \
 *   HYPHAE_CA_FILE=.hyphae/ca-bundle.pem node build/examples/grpc/client.js
 */
import * as grpc from '@grpc/grpc-js';
import http from 'node:http';
import { createMesh, getRemainingMs, meshOptionsFromEnv } from 'hyphae';
import { meshGrpcClient } from 'hyphae/grpc';
import { Greeter, type HelloReply } from './greeter.js';

const fromEnv = meshOptionsFromEnv();
const mesh = await createMesh({ ...fromEnv, service: fromEnv.service ?? 'hello-web' });
mesh.handleSignals();

const { target, credentials, options } = meshGrpcClient(mesh, 'greeter');
const greeter = new Greeter(target, credentials, options);

function sayHello(name: string): Promise<HelloReply> {
  return new Promise((resolve, reject) => void greeter.sayHello({ name }, (err, reply) => (err ? reject(err) : resolve(reply!))));
}

async function streamGreetings(name: string, count: number): Promise<HelloReply[]> {
  const replies: HelloReply[] = [];
  for await (const reply of greeter.streamGreetings({ name, count })) replies.push(reply as HelloReply);
  return replies;
}

/** A gRPC status as the HTTP status this service answers: 504 when the budget ran out, 502 otherwise. */
function failed(res: http.ServerResponse, err: unknown): void {
  // A gRPC status error has a numeric code; anything else (Node's errors have string codes) has no status.
  const e = err as { code?: unknown; details?: string };
  const code = typeof e.code === 'number' ? (e.code as grpc.status) : undefined;
  res.writeHead(code === grpc.status.DEADLINE_EXCEEDED ? 504 : 502, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ grpcStatus: code === undefined ? null : grpc.status[code], message: e.details ?? String(err) }));
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  // Read before the call: the budget this request arrived with (undefined when the caller sent none).
  const remaining = getRemainingMs();
  const budgetMs = remaining === undefined ? null : Math.floor(remaining);
  try {
    // Inside the try: a target that does not parse (`http://[`) is answered like any failure, never thrown out of
    // the listener (an unhandled rejection would end the process).
    const url = new URL(req.url ?? '/', 'http://hello-web');
    const name = url.searchParams.get('name') ?? 'world';
    let body: unknown;
    if (url.pathname === '/hello') body = { service: 'hello-web', budgetMs, greeter: await sayHello(name) };
    else if (url.pathname === '/stream') body = { service: 'hello-web', budgetMs, greeter: await streamGreetings(name, Number(url.searchParams.get('count') ?? 3)) };
    else {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  } catch (err) {
    failed(res, err);
  }
}

// The listener only starts handle(), which answers its own failures (http ignores a listener's promise).
const server = mesh.wrapServer(http.createServer((req, res) => void handle(req, res)));
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
const registered = await mesh.registered(server);
console.log(`ready service=${mesh.options.service} instance=${registered?.id ?? '?'}`);
