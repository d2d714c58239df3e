/**
 * A gRPC method path, `/package.Service/Method`, as telemetry and
 * authorization read it. grpc-js hands servers and interceptors the path as
 * the client sent it: anything not of that shape is reported as `_OTHER`, so a
 * caller cannot grow the metrics' label sets.
 */
export interface RpcMethod {
  /** `package.Service` */
  service: string;
  /** `Method` */
  method: string;
}

const OTHER: RpcMethod = { service: '_OTHER', method: '_OTHER' };
/** Protobuf's identifier rules, dotted for the service; bounded so a hostile path is not echoed in full. */
const SHAPE = /^\/([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\/([A-Za-z_][A-Za-z0-9_]*)$/;
const MAX_PATH = 512;

export function parseRpcMethod(path: string): RpcMethod {
  if (path.length > MAX_PATH) return OTHER;
  const m = SHAPE.exec(path);
  return m ? { service: m[1]!, method: m[2]! } : OTHER;
}
