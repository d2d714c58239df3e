/** Loopback servers that answer with who they are and what they received, for routing tests. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface EchoServer {
  name: string;
  port: number;
  received: Received[];
  /** Milliseconds to wait before answering (changeable while running). */
  delayMs: number;
  /** Status to answer with (changeable while running). */
  status: number;
  /** While true, requests get no answer until release(): "in flight" for as long as a test needs, however slow the machine. */
  hold: boolean;
  /** Answers every held request (and stops holding). */
  release(): void;
  close(): Promise<void>;
}

/** A server answering `{"name", "url", "headers"}` after `delayMs`, recording each request it got. */
export async function startEchoServer(name: string): Promise<EchoServer> {
  const held: (() => void)[] = [];
  const s: EchoServer = {
    name,
    port: 0,
    received: [],
    delayMs: 0,
    status: 200,
    hold: false,
    release: () => {
      s.hold = false;
      for (const answer of held.splice(0)) answer();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      s.received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(s.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ name, url: req.url, headers: req.headers, body }));
      };
      if (s.hold) held.push(answer);
      else if (s.delayMs > 0) setTimeout(answer, s.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  s.port = (server.address() as AddressInfo).port;
  return s;
}
