/**
 * Publishing the maps' news on the plain channels of {@link DIAGNOSTICS_CHANNELS} (members,
 * claims, expiry, eviction, under-replication). Each helper checks `hasSubscribers` first, so the
 * call sites (one line each, in the map's collaborators) cost a property read when nobody listens.
 * Errors are published by `peer-error.ts`, which every layer may use.
 *
 * @module
 */
import { channel } from 'node:diagnostics_channel';
import type { MapKey } from '../codec/map-messages.js';
import { DIAGNOSTICS_CHANNELS } from './channels.js';

export { publishPeerError } from './peer-error.js';

const memberAdded = channel(DIAGNOSTICS_CHANNELS.memberAdded);
const memberGone = channel(DIAGNOSTICS_CHANNELS.memberGone);
const failover = channel(DIAGNOSTICS_CHANNELS.failover);
const promotion = channel(DIAGNOSTICS_CHANNELS.promotion);
const expiry = channel(DIAGNOSTICS_CHANNELS.expiry);
const eviction = channel(DIAGNOSTICS_CHANNELS.eviction);
const underReplicated = channel(DIAGNOSTICS_CHANNELS.underReplicated);

/** The map and member a map-level message is about (a `MapContext` fits). */
export interface MapIdentity {
  readonly name: string;
  readonly id: string;
}

/** A member of map `where.name` appeared (`added`) or disappeared (`gone`). */
export function publishMember(change: 'added' | 'gone', where: MapIdentity, peer: string): void {
  const ch = change === 'added' ? memberAdded : memberGone;
  if (ch.hasSubscribers) ch.publish({ map: where.name, member: where.id, peer });
}

/** This member became primary of `key`, by a read or by failover, taking over from `previous`. */
export function publishClaim(why: 'read' | 'failover', where: MapIdentity, key: MapKey, previous: string): void {
  const ch = why === 'read' ? promotion : failover;
  if (ch.hasSubscribers) ch.publish({ map: where.name, member: where.id, key, previous });
}

/**
 * An entry of map `where.name` expired: for the expiry code to call once per expired entry, on the
 * member that finds it expired (published on `lazy-replicated-map:expiry`).
 */
export function publishExpired(where: MapIdentity, key: MapKey): void {
  if (expiry.hasSubscribers) expiry.publish({ map: where.name, member: where.id, key });
}

/** This member evicted `key` of map `where.name` to stay within `reason` (published on `lazy-replicated-map:eviction`). */
export function publishEvicted(where: MapIdentity, key: MapKey, reason: 'maxEntries' | 'maxBytes'): void {
  if (eviction.hasSubscribers) eviction.publish({ map: where.name, member: where.id, key, reason });
}

/** Entries of map `where.name` owned here hold `held` of the `wanted` copies (published on `lazy-replicated-map:under-replicated`). */
export function publishUnderReplicated(where: MapIdentity, keys: readonly MapKey[], wanted: number, held: number): void {
  if (underReplicated.hasSubscribers) underReplicated.publish({ map: where.name, member: where.id, keys, wanted, held });
}
