/**
 * The embedded store: every resource in one JSON file in the data directory,
 * rewritten atomically on each change. Simple and durable for one node and
 * the hundreds of resources a mesh has; several replicas need the etcd store.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { Listeners, type Disposer } from '../../core/events.js';
import { resourceSchema, type Resource, type ResourceKind, type StoredResource } from '../../config/resources.js';
import { describeIssues, toIssues } from '../../config/validate.js';
import { removeStaleTemps, writeFileAtomic } from '../../core/atomic-write.js';
import { canonicalJson } from './canonical-json.js';
import { revisionConflict } from './conflict.js';
import { lockDir, type DirLock } from './dir-lock.js';
import { idOf, keyOf, type ApplyResult, type ResourceId, type Store, type StoreChange, type WriteOptions } from './store.js';
import { readIfExists } from '../../core/optional-file.js';

export const STORE_FILE = 'resources.json';
const FORMAT = 1;

const fileSchema = z.strictObject({
  format: z.literal(FORMAT),
  revision: z.int().nonnegative(),
  items: z.array(z.strictObject({ revision: z.int().nonnegative(), resource: resourceSchema })),
});

export class FileStore implements Store {
  readonly dir: string;
  readonly file: string;
  #items = new Map<string, StoredResource>();
  #revision = 0;
  #lock: DirLock | undefined;
  /** Writes run one at a time: each one rewrites the whole file from the state the previous one left. */
  #queue: Promise<unknown> = Promise.resolve();
  #changes = new Listeners<StoreChange>();
  #state: 'new' | 'open' | 'closed' = 'new';

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    this.file = path.join(this.dir, STORE_FILE);
  }

  get description(): string {
    return `file ${this.file}`;
  }

  async load(): Promise<void> {
    if (this.#state !== 'new') throw new MeshError(ErrorCode.INTERNAL, 'FileStore.load() may be called once');
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.#lock = await lockDir(this.dir);
    try {
      await removeStaleTemps(this.file);
      const text = await readIfExists(this.file);
      if (text !== undefined) this.#parse(text);
    } catch (err) {
      await this.#lock.release();
      this.#lock = undefined;
      throw err;
    }
    this.#state = 'open';
  }

  #parse(text: string): void {
    const fail = (why: string, issues?: unknown) =>
      new MeshError(ErrorCode.INVALID_CONFIG, `cannot load the control-plane store ${this.file}: ${why}. Restore it from a backup, or move it away to start with no resources.`, {
        details: issues ? { issues } : undefined,
      });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw fail(`it is not valid JSON (${(err as Error).message})`);
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) {
      const issues = toIssues(parsed.error);
      throw fail(`its content is invalid: ${describeIssues(issues)}`, issues);
    }
    for (const item of parsed.data.items) this.#items.set(keyOf(idOf(item.resource)), item);
    this.#revision = parsed.data.revision;
  }

  revision(): number {
    return this.#revision;
  }

  list(kind?: ResourceKind): StoredResource[] {
    const out = [...this.#items.values()].filter((i) => kind === undefined || i.resource.kind === kind);
    return out.sort((a, b) => compareKeys(keyOf(idOf(a.resource)), keyOf(idOf(b.resource))));
  }

  get(id: ResourceId): StoredResource | undefined {
    return this.#items.get(keyOf(id));
  }

  apply(resources: readonly Resource[], options: WriteOptions = {}): Promise<ApplyResult> {
    return this.#exclusive(async () => {
      this.#checkRevision(options);
      const revision = this.#revision + 1;
      const next = new Map(this.#items);
      const results: ApplyResult['results'] = [];
      const change: StoreChange = { revision, changes: [] };
      for (const resource of resources) {
        const id = idOf(resource);
        const key = keyOf(id);
        const current = next.get(key);
        if (current && canonicalJson(current.resource) === canonicalJson(resource)) {
          results.push({ ...id, action: 'unchanged' });
          continue;
        }
        const action = current ? 'updated' : 'created';
        next.set(key, { resource, revision });
        results.push({ ...id, action });
        change.changes.push({ ...id, action, resource });
      }
      if (change.changes.length === 0) return { revision: this.#revision, results };
      await this.#persist(next, revision);
      this.#commit(next, change);
      return { revision, results };
    });
  }

  delete(id: ResourceId, options: WriteOptions = {}): Promise<number | undefined> {
    return this.#exclusive(async () => {
      this.#checkRevision(options);
      const key = keyOf(id);
      if (!this.#items.has(key)) return undefined;
      const revision = this.#revision + 1;
      const next = new Map(this.#items);
      next.delete(key);
      await this.#persist(next, revision);
      this.#commit(next, { revision, changes: [{ ...id, action: 'deleted', resource: undefined }] });
      return revision;
    });
  }

  onChange(listener: (change: StoreChange) => void): Disposer {
    return this.#changes.on(listener);
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    // Let a write in progress finish, so that what was acknowledged is on disk.
    await this.#queue.catch(() => {});
    this.#changes.clear();
    await this.#lock?.release();
    this.#lock = undefined;
  }

  #checkRevision({ expectedRevision }: WriteOptions): void {
    if (expectedRevision !== undefined && expectedRevision !== this.#revision) throw revisionConflict(expectedRevision, this.#revision);
  }

  async #persist(items: Map<string, StoredResource>, revision: number): Promise<void> {
    const sorted = [...items.entries()].sort(([a], [b]) => compareKeys(a, b)).map(([, v]) => v);
    await writeFileAtomic(this.file, `${JSON.stringify({ format: FORMAT, revision, items: sorted }, null, 2)}\n`);
  }

  /** Only after the file is durable does memory (and every watcher) move to the new state. */
  #commit(items: Map<string, StoredResource>, change: StoreChange): void {
    this.#items = items;
    this.#revision = change.revision;
    this.#changes.emit(change);
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#state !== 'open') {
      return Promise.reject(new MeshError(ErrorCode.INTERNAL, `the store is ${this.#state === 'new' ? 'not loaded yet' : 'closed'}`));
    }
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
