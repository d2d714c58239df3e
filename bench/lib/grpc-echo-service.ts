/**
 * The service of the gRPC bench (bench/grpc.ts): two unary methods with bytes in and bytes out, no
 * protobuf (the messages are passed through as they are), so that the figures are the transport's and the
 * mesh's, not a serializer's. `Small` answers 32 bytes, `Large` 64 KiB.
 */
import * as grpc from '@grpc/grpc-js';

export const SMALL_ANSWER = Buffer.alloc(32, 's');
export const LARGE_ANSWER = Buffer.alloc(64 * 1024, 'l');

const bytes = (path: string): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
});

export const ECHO_SERVICE = { small: bytes('/hyphae.bench.Echo/Small'), large: bytes('/hyphae.bench.Echo/Large') } satisfies grpc.ServiceDefinition;

export const echoHandlers: grpc.UntypedServiceImplementation = {
  small: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, SMALL_ANSWER),
  large: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, LARGE_ANSWER),
};

export interface EchoClient extends grpc.Client {
  small(request: Buffer, callback: grpc.requestCallback<Buffer>): grpc.ClientUnaryCall;
  large(request: Buffer, callback: grpc.requestCallback<Buffer>): grpc.ClientUnaryCall;
}

export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'hyphae.bench.Echo') as unknown as new (
  target: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => EchoClient;
