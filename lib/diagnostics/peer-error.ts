/**
 * Publishing faults on `lazy-replicated-map:peer.error`: what the transports, RPC channels and
 * maps report on `'error'`. Apart from the maps' own helpers (`publish.ts`) because every layer
 * reports errors, the TCP transport included, and a transport must not import map-level code.
 *
 * @module
 */
import { channel } from 'node:diagnostics_channel';
import { DIAGNOSTICS_CHANNELS, type PeerErrorMessage } from './channels.js';

const peerError = channel(DIAGNOSTICS_CHANNELS.peerError);

/** Errors already published: a transport's error is relayed to every channel and map on it. */
const publishedErrors = new WeakSet<Error>();

/** A fault reported on `'error'`; an error already published (relayed from below) is not published again. */
export function publishPeerError(source: PeerErrorMessage['source'], member: string, error: Error, name?: string): void {
  if (!peerError.hasSubscribers || publishedErrors.has(error)) return;
  publishedErrors.add(error);
  const message: PeerErrorMessage = name === undefined ? { source, member, error } : { source, member, name, error };
  peerError.publish(message);
}
