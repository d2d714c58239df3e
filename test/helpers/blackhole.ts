/**
 * An endpoint that accepts no connection at all, as a host that froze or a
 * firewall that drops packets does: a real process listening with a backlog
 * of 1, stopped with SIGSTOP, its accept queue filled by two connections. A
 * further connect gets no SYN-ACK and hangs until the client's connect
 * timeout (undici: 10 s) instead of failing fast with ECONNREFUSED.
 */
import net from 'node:net';
import { startNode } from './process.js';

export interface Blackhole {
  port: number;
  close(): Promise<void>;
}

const LISTENER = "const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>console.log('listening '+s.address().port))";

export async function startBlackhole(): Promise<Blackhole> {
  const child = startNode('-e', [LISTENER]);
  const port = Number((await child.waitFor(/listening (\d+)/))[1]);
  child.proc.kill('SIGSTOP');
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      setTimeout(() => reject(new Error('could not fill the accept queue')), 2_000).unref();
    });
    fillers.push(s);
  }
  return {
    port,
    async close() {
      for (const s of fillers) s.destroy();
      await child.kill('SIGKILL');
    },
  };
}
