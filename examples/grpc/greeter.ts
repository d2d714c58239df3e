/**
 * examples/grpc/greeter.proto loaded with @grpc/proto-loader, and the TypeScript shapes of its messages
 * (written by hand here; a real project may generate them with proto-loader-gen-types).
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

export interface HelloRequest {
  name: string;
}
export interface StreamRequest {
  name: string;
  count: number;
}
export interface HelloReply {
  message: string;
  instance: string;
  caller: string;
  deadlineMs: number;
}

export interface GreeterClient extends grpc.Client {
  sayHello(request: HelloRequest, callback: grpc.requestCallback<HelloReply>): grpc.ClientUnaryCall;
  sayHello(request: HelloRequest, options: Partial<grpc.CallOptions>, callback: grpc.requestCallback<HelloReply>): grpc.ClientUnaryCall;
  streamGreetings(request: StreamRequest): grpc.ClientReadableStream<HelloReply>;
}

export interface GreeterHandlers extends grpc.UntypedServiceImplementation {
  sayHello: grpc.handleUnaryCall<HelloRequest, HelloReply>;
  streamGreetings: grpc.handleServerStreamingCall<StreamRequest, HelloReply>;
}

// The .proto stays in the source tree (this file runs from build/examples/grpc/).
const protoFile = fileURLToPath(new URL('../../../examples/grpc/greeter.proto', import.meta.url));
// Field names in camelCase (deadline_ms -> deadlineMs), every field present with its default.
const definition = loadSync(protoFile, { defaults: true });
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  hyphae: { examples: { Greeter: grpc.ServiceClientConstructor } };
};

export const Greeter = loaded.hyphae.examples.Greeter as unknown as {
  new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions): GreeterClient;
  service: grpc.ServiceDefinition;
};
export const greeterService: grpc.ServiceDefinition = Greeter.service;

/** What every server call has (grpc-js does not export the common type of its server calls). */
interface ServerCall {
  getDeadline(): grpc.Deadline;
}

/** The whole ms a server call has left (its grpc-timeout, as grpc-js keeps it), -1 without a deadline. */
export function remainingMs(call: ServerCall): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? Math.max(0, Math.floor(at - Date.now())) : -1;
}
