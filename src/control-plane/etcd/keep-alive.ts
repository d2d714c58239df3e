/**
 * Heartbeats as etcd lease keep-alives. etcd has no unary keep-alive: it is a
 * bidirectional stream of lease ids in and remaining TTLs out. One stream per
 * replica carries every heartbeat that reaches this replica (10,000 instances
 * beating every few seconds would otherwise open thousands of streams), and
 * each answer is matched to its request by lease id (etcd answers in order).
 * A broken stream fails what is waiting on it and is reopened by the next
 * heartbeat, on whichever endpoint the client picks.
 */
import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';

type Stream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

interface Pending {
  resolve(ttl: number): void;
  reject(err: Error): void;
}

export class KeepAlives {
  #client: Etcd3;
  #timeoutMs: number;
  #stream: Promise<Stream> | undefined;
  #pending = new Map<string, Pending[]>();
  #closed = false;

  constructor(client: Etcd3, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  /** Renew one etcd lease; resolves with its TTL in seconds, 0 when etcd no longer has it (expired or revoked). */
  async renew(etcdLease: string): Promise<number> {
    try {
      return await this.#renewOnce(etcdLease);
    } catch (err) {
      // Not after a timeout: the member did not answer in time, and the caller (a heartbeat with a lease
      // running out) is better served by a prompt 503 that sends it to another replica than by a second wait.
      if (err instanceof KeepAliveTimeout) throw err;
      // The stream may have died with a member since it was opened: one more try on a fresh one.
      return this.#renewOnce(etcdLease);
    }
  }

  async #renewOnce(id: string): Promise<number> {
    if (this.#closed) throw new Error('the control plane is closing');
    const streamPromise = this.#open();
    const stream = await streamPromise;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        remove();
        reject(new KeepAliveTimeout(`no keep-alive answer from etcd within ${this.#timeoutMs} ms`));
        // A stream that stops answering is as good as dead.
        this.#drop(streamPromise, new Error('keep-alive stream timed out'));
      }, this.#timeoutMs);
      const entry: Pending = {
        resolve: (ttl) => {
          clearTimeout(timer);
          resolve(ttl);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const remove = () => {
        const list = this.#pending.get(id);
        const i = list?.indexOf(entry) ?? -1;
        if (i >= 0) list!.splice(i, 1);
        if (list?.length === 0) this.#pending.delete(id);
      };
      const list = this.#pending.get(id);
      if (list) list.push(entry);
      else this.#pending.set(id, [entry]);
      stream.write({ ID: id });
    });
  }

  #open(): Promise<Stream> {
    if (this.#stream) return this.#stream;
    const opening = this.#client.leaseClient.leaseKeepAlive().then((stream) => {
      stream.on('data', (res: ILeaseKeepAliveResponse) => {
        const list = this.#pending.get(res.ID);
        const first = list?.shift();
        if (list?.length === 0) this.#pending.delete(res.ID);
        first?.resolve(Number(res.TTL));
      });
      stream.on('error', (err: Error) => this.#drop(opening, err));
      stream.on('end', () => this.#drop(opening, new Error('keep-alive stream ended')));
      return stream;
    });
    opening.catch((err: unknown) => this.#drop(opening, err instanceof Error ? err : new Error(String(err))));
    this.#stream = opening;
    return opening;
  }

  /** Forget a broken stream and fail everything waiting on it (their callers retry once, on a new stream). */
  #drop(which: Promise<Stream>, err: Error): void {
    if (this.#stream !== which) return;
    this.#stream = undefined;
    const waiting = [...this.#pending.values()].flat();
    this.#pending.clear();
    for (const p of waiting) p.reject(err);
    which.then((s) => s.cancel()).catch(() => {});
  }

  close(): void {
    this.#closed = true;
    if (this.#stream) this.#drop(this.#stream, new Error('the control plane is closing'));
  }
}

class KeepAliveTimeout extends Error {}
