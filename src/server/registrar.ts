/**
 * What wrapServer needs from discovery, as an interface: the server layer may
 * not import discovery (DESIGN dependency direction); the mesh wires the
 * control-plane registration in.
 */
export interface InstanceInfo {
  address: string;
  port: number;
  labels: Record<string, string>;
  weight: number;
}

export interface RegisteredInstance {
  /** The id watchers see (address:port). */
  readonly id: string;
  deregister(): Promise<void>;
}

export interface ServerRegistrar {
  /**
   * Register; may take as long as the control plane is unreachable (it retries
   * in the background). `signal` gives up (the server drains or closes first).
   */
  register(info: InstanceInfo, signal?: AbortSignal): Promise<RegisteredInstance>;
}
