/**
 * The maps' diagnostics: their public operations on tracing channels and their `'error'` events
 * on `lazy-replicated-map:peer.error` (see docs/observability.md). Applied once to the facade's
 * prototype, so the facade's methods carry no instrumentation; membership, promotion and failover
 * are published where they happen (failover.ts, promotion.ts).
 *
 * @module
 */
import { DIAGNOSTICS_CHANNELS, type MapOperation, type MapOperationContext } from '../diagnostics/channels.js';
import { publishErrorsOf, traceMethod } from '../diagnostics/tracing.js';
import type { MapKey } from '../codec/map-messages.js';

/** The slice of a map the instrumentation reads. */
interface InstrumentedMap {
  readonly name: string;
  readonly id: string;
  emit(event: string | symbol, ...args: unknown[]): boolean;
}

/** The operations traced, with their channels (an operation added to the map is added here). */
const TRACED: ReadonlyArray<[MapOperation, string]> = [
  ['get', DIAGNOSTICS_CHANNELS.mapGet],
  ['set', DIAGNOSTICS_CHANNELS.mapSet],
  ['delete', DIAGNOSTICS_CHANNELS.mapDelete],
  ['clear', DIAGNOSTICS_CHANNELS.mapClear],
  ['replicate', DIAGNOSTICS_CHANNELS.mapReplicate],
  ['touch', DIAGNOSTICS_CHANNELS.mapTouch],
];

/** Instruments the prototype of the maps' facade (once, where the class is defined). */
export function instrumentMap(proto: object): void {
  const map = proto as InstrumentedMap & Record<MapOperation, unknown>;
  for (const [op, name] of TRACED) {
    traceMethod(map, op, name, (self, args): MapOperationContext => {
      const context: MapOperationContext = { op, map: self.name, member: self.id };
      if (op !== 'clear') context.key = args[0] as MapKey;
      return context;
    });
  }
  publishErrorsOf(map, 'map', (self) => ({ member: self.id, name: self.name }));
}
