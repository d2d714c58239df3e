/**
 * The answers of the inbound layers that refuse a request: a small JSON body
 * with the same `{"error": {code, message}}` shape as the control plane's, so
 * a caller can tell a mesh refusal from the application's own 403.
 */
import type http from 'node:http';

export function refuse(res: http.ServerResponse, status: number, code: string, message: string, closeConnection = false): void {
  const body = `{"error":{"code":"${code}","message":${JSON.stringify(message)}}}\n`;
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('cache-control', 'no-store');
  if (closeConnection) res.setHeader('connection', 'close');
  res.end(body);
}
