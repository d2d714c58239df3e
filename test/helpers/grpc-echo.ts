/**
 * A small gRPC service for the hyphae/grpc transport tests: `/test.Echo/Echo` with JSON messages (no .proto),
 * answered by named instances served through serveGrpc, each able to answer late or with a status.
 */
import * as grpc from '@grpc/grpc-js';
import type { Mesh } from '../../src/index.js';
import { serveGrpc, type ServeGrpcOptions } from '../../src/grpc/index.js';

export interface EchoRequest {
  /** Answer after this long (a call in flight across a rotation or a drain). */
  delayMs?: number;
}

export interface EchoReply {
  /** The instance that answered. */
  instance: string;
  /** The serial number of the client certificate the call's connection presented (mTLS). */
  clientSerial: string | undefined;
}

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')),
};

export const echoService = {
  echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize as (b: Buffer) => EchoRequest,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize as (b: Buffer) => EchoReply,
  },
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');
export type EchoClient = InstanceType<typeof EchoClient>;

export interface EchoInstance {
  name: string;
  server: grpc.Server;
  port: number;
  /** Set to answer every call with this status instead (an instance gone bad). */
  failWith: grpc.status | undefined;
  /** Calls this instance answered. */
  calls: number;
}

/** A server of the echo service, named `name`, bound on 127.0.0.1 port 0 and registered through `mesh`. */
export async function startEcho(mesh: Mesh, name: string, options: Pick<ServeGrpcOptions, 'register'> = {}): Promise<EchoInstance> {
  const server = new grpc.Server();
  const instance: EchoInstance = { name, server, port: 0, failWith: undefined, calls: 0 };
  server.addService(echoService, {
    echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) => {
      instance.calls++;
      const answer = () => {
        if (instance.failWith !== undefined) return callback({ code: instance.failWith, details: `${name} fails` });
        const cert = call.getAuthContext().sslPeerCertificate;
        callback(null, { instance: name, clientSerial: cert?.serialNumber });
      };
      const delay = call.request.delayMs ?? 0;
      if (delay === 0) return answer();
      // A call cut short (its client gone, the server forced down) keeps no timer: the test's process can end.
      const timer = setTimeout(answer, delay);
      call.once('cancelled', () => clearTimeout(timer));
    },
  });
  instance.port = (await serveGrpc(mesh, server, { host: '127.0.0.1', port: 0, labels: { instance: name }, ...options })).port;
  return instance;
}

export function echo(client: EchoClient, request: EchoRequest = {}, timeoutMs = 10_000): Promise<EchoReply> {
  return new Promise((resolve, reject) => {
    client.echo!(request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, reply?: EchoReply) => (err ? reject(err) : resolve(reply!)));
  });
}

/** `n` calls, `concurrency` at a time; the instance that answered each. */
export async function echoMany(client: EchoClient, n: number, concurrency = 10): Promise<string[]> {
  const out: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        out.push((await echo(client)).instance);
      }
    }),
  );
  return out;
}
