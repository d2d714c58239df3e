/**
 * Named instances of a small gRPC service for the hyphae/grpc transport tests: `/test.Echo/Echo` (JSON
 * messages, grpc-echo.ts), served through serveGrpc, each able to answer late or with a status.
 */
import * as grpc from '@grpc/grpc-js';
import type { Mesh } from '../../src/index.js';
import { meshGrpcServerOptions, serveGrpc, type ServeGrpcOptions } from '../../src/grpc/index.js';
import { method, unary, type Msg } from './grpc-echo.js';

export interface EchoRequest {
  /** Answer after this long (a call in flight across a rotation or a drain). */
  delayMs?: number;
  /** The caller's number for the call: what tells its attempts apart at the instances. */
  id?: number;
}

export interface EchoReply {
  /** The instance that answered. */
  instance: string;
  /** The serial number of the client certificate the call's connection presented (mTLS). */
  clientSerial: string | undefined;
}

const ECHO_PATH = '/test.Echo/Echo';
export const echoService = { echo: method(ECHO_PATH) } satisfies grpc.ServiceDefinition;

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
  /** Told of each call as it arrives (its request, its metadata as the handler sees it). */
  onCall: ((call: grpc.ServerUnaryCall<Msg, Msg>) => void) | undefined;
}

/** A server of the echo service, named `name`, bound on 127.0.0.1 port 0 and registered through `mesh`. */
export async function startEcho(mesh: Mesh, name: string, options: Pick<ServeGrpcOptions, 'register' | 'maxConnections' | 'tlsHandshakeTimeoutMs'> = {}): Promise<EchoInstance> {
  const server = new grpc.Server(meshGrpcServerOptions(mesh));
  const instance: EchoInstance = { name, server, port: 0, failWith: undefined, calls: 0, onCall: undefined };
  server.addService(echoService, {
    echo: (call: grpc.ServerUnaryCall<Msg, Msg>, callback: grpc.sendUnaryData<Msg>) => {
      instance.calls++;
      instance.onCall?.(call);
      const answer = () => {
        if (instance.failWith !== undefined) return callback({ code: instance.failWith, details: `${name} fails` });
        const cert = call.getAuthContext().sslPeerCertificate;
        callback(null, { instance: name, clientSerial: cert?.serialNumber });
      };
      const delay = Number(call.request.delayMs ?? 0);
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    },
  });
  instance.port = (await serveGrpc(mesh, server, { host: '127.0.0.1', port: 0, labels: { instance: name }, ...options })).port;
  return instance;
}

export async function echo(client: EchoClient, request: EchoRequest = {}, timeoutMs = 10_000, metadata?: grpc.Metadata): Promise<EchoReply> {
  return (await unary(client, ECHO_PATH, { ...request }, { deadline: Date.now() + timeoutMs }, metadata)) as unknown as EchoReply;
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
