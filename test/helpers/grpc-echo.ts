/**
 * A gRPC service without a .proto (JSON messages) for the interceptor tests:
 * grpc-js servers and clients on 127.0.0.1, closed by the caller.
 */
import * as grpc from '@grpc/grpc-js';

export type Msg = Record<string, unknown>;

const serialize = (v: Msg): Buffer => Buffer.from(JSON.stringify(v));
const deserialize = (b: Buffer): Msg => JSON.parse(b.toString('utf8')) as Msg;

export function method(path: string, requestStream = false, responseStream = false): grpc.MethodDefinition<Msg, Msg> {
  return { path, requestStream, responseStream, requestSerialize: serialize, requestDeserialize: deserialize, responseSerialize: serialize, responseDeserialize: deserialize };
}

export const ECHO = {
  Unary: method('/test.Echo/Unary'),
  Admin: method('/test.Echo/Admin'),
  ServerStream: method('/test.Echo/ServerStream', false, true),
  ClientStream: method('/test.Echo/ClientStream', true, false),
};

export const EchoClient = grpc.makeGenericClientConstructor(ECHO, 'Echo');
export type EchoClientType = InstanceType<typeof EchoClient>;

export async function listen(server: grpc.Server, creds = grpc.ServerCredentials.createInsecure()): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, port) => (err ? reject(err) : resolve(port))));
}

/** A unary call as a promise: the answer, or the status error. */
export function unary(client: grpc.Client, path: string, req: Msg, options: grpc.CallOptions = {}, metadata = new grpc.Metadata()): Promise<Msg> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, serialize, deserialize, req, metadata, options, (err: grpc.ServiceError | null, res?: Msg) => (err ? reject(err) : resolve(res!)));
  });
}

/** Every message of a server-streaming call, or the status error. */
export function serverStream(client: grpc.Client, path: string, req: Msg, options: grpc.CallOptions = {}): Promise<Msg[]> {
  return new Promise((resolve, reject) => {
    const got: Msg[] = [];
    const call = client.makeServerStreamRequest(path, serialize, deserialize, req, new grpc.Metadata(), options);
    call.on('data', (m: Msg) => got.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(got));
  });
}

export function statusOf(err: unknown): number | undefined {
  return (err as Partial<grpc.ServiceError>)?.code;
}
