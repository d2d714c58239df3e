import type { AuthorizationPolicyResource } from '../../src/config/resources.js';
import type { PolicySource } from '../../src/server/policy-source.js';

/** A PolicySource driven by the test: silent until set() is called, like a control plane that has not answered yet. */
export class TestPolicySource implements PolicySource {
  #listeners = new Set<(p: readonly AuthorizationPolicyResource[]) => void>();
  #current: readonly AuthorizationPolicyResource[] | undefined;

  constructor(initial?: readonly AuthorizationPolicyResource[]) {
    this.#current = initial;
  }

  subscribe(listener: (p: readonly AuthorizationPolicyResource[]) => void): () => void {
    this.#listeners.add(listener);
    if (this.#current) listener(this.#current);
    return () => this.#listeners.delete(listener);
  }

  set(policies: readonly AuthorizationPolicyResource[]): void {
    this.#current = policies;
    for (const l of this.#listeners) l(policies);
  }

  get subscribers(): number {
    return this.#listeners.size;
  }
}
