/**
 * Where peerings are kept, both ways, in the data directory (`peerings.json`, mode 0600, atomic writes):
 * those this cluster accepted (it made a token; only the secret's SHA-256 is kept) and those it dials (it
 * used a token; the secret itself must be kept to present it again after a restart). A peering outlives
 * restarts of either side; deleting it is what revokes it.
 *
 * One file per control plane, not the shared store: with etcd replicas each replica holds its own
 * (docs/usage.md, "Peering" says so); peerings are few and made by hand.
 */
import path from 'node:path';
import { z } from 'zod';
import { clusterNameSchema, nameSchema } from '../../config/names.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { peerAddressSchema } from './token.js';
import { readIfExists } from '../../core/optional-file.js';

const acceptedSchema = z.strictObject({
  /** The peer cluster (dc1), as named when the token was made. */
  peer: clusterNameSchema,
  /** Hex SHA-256 of the secret dc1 presents. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  /** Gateway model: export the instances of this service (the mesh gateways) in place of each exported service's own. */
  gateway: z.strictObject({ name: nameSchema, namespace: nameSchema }).optional(),
});
export type AcceptedPeering = z.output<typeof acceptedSchema>;

const dialedSchema = z.strictObject({
  /** The peer cluster (dc2): the name its imported instances carry as `cluster`. */
  peer: clusterNameSchema,
  addresses: z.array(peerAddressSchema).min(1),
  ca: z.string().min(1),
  secret: z.string().min(1),
  createdAt: z.string(),
});
export type DialedPeering = z.output<typeof dialedSchema>;

const fileSchema = z.strictObject({
  format: z.literal(1),
  accepted: z.array(acceptedSchema),
  dialed: z.array(dialedSchema),
});

export const PEERINGS_FILE = 'peerings.json';

export class PeeringStore {
  readonly file: string;
  #accepted = new Map<string, AcceptedPeering>();
  #dialed = new Map<string, DialedPeering>();
  /** Writes run one at a time, each from the state the previous one left. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string) {
    this.file = path.join(dataDir, PEERINGS_FILE);
  }

  async load(): Promise<void> {
    const text = await readIfExists(this.file);
    if (text === undefined) return;
    try {
      const parsed = fileSchema.parse(JSON.parse(text));
      this.#accepted = new Map(parsed.accepted.map((p) => [p.peer, p]));
      this.#dialed = new Map(parsed.dialed.map((p) => [p.peer, p]));
    } catch (err) {
      throw new MeshError(ErrorCode.INVALID_CONFIG, `cannot load the peerings ${this.file}: ${(err as Error).message}. Restore it from a backup, or move it away (every peering is then gone).`);
    }
  }

  accepted(peer: string): AcceptedPeering | undefined {
    return this.#accepted.get(peer);
  }

  dialed(peer: string): DialedPeering | undefined {
    return this.#dialed.get(peer);
  }

  listAccepted(): AcceptedPeering[] {
    return [...this.#accepted.values()];
  }

  listDialed(): DialedPeering[] {
    return [...this.#dialed.values()];
  }

  putAccepted(p: AcceptedPeering): Promise<void> {
    return this.#write(() => {
      this.#accepted.set(p.peer, p);
    });
  }

  putDialed(p: DialedPeering): Promise<void> {
    return this.#write(() => {
      this.#dialed.set(p.peer, p);
    });
  }

  /** Removes the peering with `peer` both ways; resolves with what there was. */
  remove(peer: string): Promise<{ accepted: boolean; dialed: boolean }> {
    return this.#write(() => ({ accepted: this.#accepted.delete(peer), dialed: this.#dialed.delete(peer) }));
  }

  /** Durable before it resolves; on a failed write the memory goes back to what the file holds. */
  #write<T>(change: () => T): Promise<T> {
    const run = this.#queue.then(async () => {
      const before = [new Map(this.#accepted), new Map(this.#dialed)] as const;
      const result = change();
      try {
        await writeFileAtomic(this.file, `${JSON.stringify({ format: 1, accepted: [...this.#accepted.values()], dialed: [...this.#dialed.values()] }, null, 2)}\n`);
      } catch (err) {
        [this.#accepted, this.#dialed] = before;
        throw err;
      }
      return result;
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}
