/** A typed listener list; subscribing returns the function that unsubscribes. */
export type Disposer = () => void;

export class Listeners<T> {
  #listeners: ((value: T) => void)[] = [];

  on(listener: (value: T) => void): Disposer {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  emit(value: T): void {
    // Copy so that a listener may unsubscribe while we iterate.
    for (const l of this.#listeners.slice()) l(value);
  }

  get size(): number {
    return this.#listeners.length;
  }

  clear(): void {
    this.#listeners = [];
  }
}
