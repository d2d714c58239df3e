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

/**
 * One event sink per mesh: the layers emit typed events into it (a retry
 * decided, an endpoint ejected or restored, a limit hit...), and whoever
 * wants to know — telemetry, the application's hooks — subscribes. A layer
 * knows the sink, never its subscribers (undici's diagnostics_channel and
 * cockatiel's events are the models).
 *
 * Each event may come with the call it is about (`C`), for telemetry of that
 * call (its span); subscribers that only want the event ignore it.
 *
 * Subscribers are told, never obeyed: events are emitted from inside the data
 * path (a retry decision, an attempt's outcome report), where a throw would
 * fail a good response or strand an attempt. A throw is caught and handed to
 * `onListenerError` with the event's name, and the other subscribers still run.
 */
export class EventSink<E extends object, C = undefined> {
  #channels = new Map<keyof E, ((event: never, call: C | undefined) => void)[]>();
  #onListenerError: (name: string, err: unknown) => void;

  constructor(onListenerError: (name: string, err: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  on<K extends keyof E>(name: K, listener: (event: E[K], call: C | undefined) => void): Disposer {
    const list = this.#channels.get(name) ?? [];
    const fn = listener as (event: never, call: C | undefined) => void;
    this.#channels.set(name, [...list, fn]);
    return () => {
      const now = this.#channels.get(name);
      if (now === undefined) return;
      const i = now.indexOf(fn);
      if (i >= 0) this.#channels.set(name, [...now.slice(0, i), ...now.slice(i + 1)]);
    };
  }

  /** True when someone listens: a layer builds an event only then. */
  has(name: keyof E): boolean {
    const list = this.#channels.get(name);
    return list !== undefined && list.length > 0;
  }

  emit<K extends keyof E>(name: K, event: E[K], call?: C): void {
    const list = this.#channels.get(name);
    if (list === undefined) return;
    // The list is replaced, never changed, on (un)subscribe: a listener may unsubscribe while we iterate.
    for (const l of list) {
      try {
        (l as (event: E[K], call: C | undefined) => void)(event, call);
      } catch (err) {
        try {
          this.#onListenerError(String(name), err);
        } catch {
          // The error reporter itself failed: nothing more can be done from inside the data path.
        }
      }
    }
  }
}
