/**
 * Snapshot versions. Each change to a service (an instance came or went, its
 * Service resource changed) takes the next value of one counter, so versions
 * are comparable across services and grow for the life of the process.
 *
 * The counter starts at the store revision, but it is not the store revision:
 * registry changes are not persisted (see ../registry/registry.ts), so after
 * a restart it starts again from the store revision. A client must therefore
 * treat the first snapshot of a service on a new stream as the truth, whatever
 * its version (every snapshot is the whole state of the service, so that is
 * always safe).
 */
export class ServiceVersions {
  #revision: number;
  #versions = new Map<string, number>();
  /** For changes that touch every service of a namespace (a policy without selector). */
  #namespaces = new Map<string, number>();

  constructor(start: number) {
    this.#revision = start;
  }

  /** The newest version handed out. */
  get revision(): number {
    return this.#revision;
  }

  /**
   * A store write happened at `revision`: never hand out a version below it
   * again. The file store's revisions grow by one per write, like this
   * counter; etcd's jump (registry writes share etcd's counter), and a
   * snapshot's version is at least its resource's revision, so without this
   * a service whose resource is deleted would go back to a lower version.
   */
  observe(revision: number): void {
    if (revision > this.#revision) this.#revision = revision;
  }

  bump(service: string): number {
    this.#revision += 1;
    this.#versions.set(service, this.#revision);
    return this.#revision;
  }

  bumpNamespace(namespace: string): number {
    this.#revision += 1;
    this.#namespaces.set(namespace, this.#revision);
    return this.#revision;
  }

  /** The version at which the service last changed; 0 for a service never changed since start. */
  of(service: string): number {
    const ns = this.#namespaces.get(service.slice(0, service.indexOf('/'))) ?? 0;
    return Math.max(this.#versions.get(service) ?? 0, ns);
  }
}
