/**
 * The client's view of the mesh's event sink: the mesh's events
 * (resilience/hooks.ts MeshEvents), each with the call it is about when there
 * is one, so telemetry can annotate that call's span.
 */
import { EventSink } from '../core/events.js';
import type { MeshEvents } from '../resilience/hooks.js';
import type { MeshCall } from './call/mesh-call.js';

export type ClientEventSink = EventSink<MeshEvents, MeshCall>;

/** A sink nobody listens to, for stacks built without a mesh (tests, benches). */
export function unheardEvents(): ClientEventSink {
  return new EventSink<MeshEvents, MeshCall>();
}
