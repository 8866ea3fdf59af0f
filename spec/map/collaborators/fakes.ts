/**
 * Fakes for the map's collaborators' unit specs: a real {@link MapContext} over a member view fed
 * by hand (no transport, no channel), and recorders for the sibling services a collaborator
 * declares. Each collaborator is built alone on them, so a spec sees what it does and what it asks.
 *
 * @module
 */
import { MSG_BACKUP } from '../../../lib/codec/message-types.js';
import { defaultValueCodec } from '../../../lib/codec/value-codec.js';
import { Membership } from '../../../lib/membership/membership.js';
import { MapContext, type MapFlavour } from '../../../lib/map/map-context.js';

/** A lazy map's flavour with `backups` copies wanted. */
export function lazyFlavour(backups = 1): MapFlavour {
  return { desiredBackups: () => backups, holderRole: 'backup', copyMessage: MSG_BACKUP, readsCopies: false, promoteOnRead: true };
}

/** The events a context raised, in order. */
export type Raised = Array<[string, ...unknown[]]>;

/** A context for member `id` whose other members are `others` (all live), on a clock the spec moves. */
export interface FakeContext {
  readonly ctx: MapContext;
  /** Events raised through `ctx.events`. */
  readonly raised: Raised;
  /** The clock `ctx.now()` reads, in milliseconds. */
  readonly clock: { now: number };
  /** Work handed to `ctx.background`, to await in a spec. */
  readonly background: Array<Promise<unknown>>;
}

/** Builds a {@link FakeContext}. */
export function fakeContext(id = 'a', others: readonly string[] = [], options: { flavour?: MapFlavour; frameLimit?: number } = {}): FakeContext {
  const raised: Raised = [];
  const clock = { now: 1000 };
  const background: Array<Promise<unknown>> = [];
  const members = new Membership({ peers: () => [...others].sort() });
  const ctx = new MapContext({
    name: 'm',
    id,
    flavour: options.flavour ?? lazyFlavour(),
    rpcTimeoutMs: 1000,
    ackMode: 'backups',
    codec: defaultValueCodec,
    now: () => clock.now,
    tombstoneTtlMs: 60_000,
    members,
    events: {
      emit: (event: string, ...args: unknown[]) => {
        raised.push([event, ...args]);
        return true;
      },
    } as MapContext['events'],
    frameLimit: () => options.frameLimit ?? Infinity,
  });
  for (const m of others) members.add(m, `${m}-1`);
  const run = ctx.background.bind(ctx);
  ctx.background = (work) => {
    background.push(work);
    run(work);
  };
  return { ctx, raised, clock, background };
}

/** Calls made to a fake, by method name, with their arguments. */
export class Calls {
  readonly list: Array<[string, ...unknown[]]> = [];

  /** Records a call of `name` with `args`. */
  record(name: string, ...args: unknown[]): void {
    this.list.push([name, ...args]);
  }

  /** Records a call of `name` with `args`, as a fake async method that resolves at once. */
  done(name: string, ...args: unknown[]): Promise<void> {
    this.record(name, ...args);
    return Promise.resolve();
  }

  /** The names of the calls made, in order. */
  names(): string[] {
    return this.list.map(([name]) => name);
  }
}

/**
 * What `p` resolved to once every callback of this turn of the event loop and of the next one
 * ran, or 'pending'. Groups leave at the end of a turn, so a promise still pending then was left
 * unsettled.
 */
export function settledByNextTurn<T>(p: Promise<T>): Promise<T | 'pending'> {
  const later = new Promise<'pending'>((resolve) => {
    setImmediate(() => {
      setImmediate(() => {
        resolve('pending');
      });
    });
  });
  return Promise.race([p, later]);
}

/** How `p` stands by the end of the next turn (see {@link settledByNextTurn}): 'resolved', its rejection's message, or 'pending'. */
export function outcomeByNextTurn(p: Promise<unknown>): Promise<string> {
  return settledByNextTurn(p.then(() => 'resolved')).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
}
