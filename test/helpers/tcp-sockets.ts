/**
 * Established TCP connections as the kernel lists them (/proc/net/tcp and tcp6, Linux): what a test counts to
 * show how many connections reach a server, whatever the client library does above its sockets.
 */
import { readFileSync } from 'node:fs';

const ESTABLISHED = '01';

/** Connections in ESTABLISHED state whose local port is `port`: the accepted side of a server on it, in this network namespace. */
export function establishedOnPort(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // f[1]: local address:port (hex), f[3]: state.
      if (f.length > 3 && f[1]!.endsWith(`:${hex}`) && f[3] === ESTABLISHED) n++;
    }
  }
  return n;
}
