/**
 * One connection per pair of members: which connections are open, which one each peer is reached
 * by, and the rules that keep exactly one when two members dial each other at once or a member
 * restarts under the same id.
 *
 * @module
 */
import type { Connection } from './connection.js';
import type { PeerIdentity, Refusal } from './handshake.js';

/** The reason given when a member reached itself (its own address under another name). */
const OWN_ID_REASON = "is this member's own id";

/**
 * True for the refusal a member gets when it dialled itself: the reason travels in the refusal's
 * message, the only thing the dialling side hears. Such a refusal is no other member refusing it.
 */
export function isSelfRefusal(error: Error): boolean {
  return error.message.includes(OWN_ID_REASON);
}

/** What changed for the transport's listeners when a connection was adopted or released. */
export interface LinkChange {
  /** A peer that is gone (`peerDown`). */
  readonly down?: string;
  /** A peer that became reachable (`peerUp`). */
  readonly up?: string;
}

/** The open connections and the one kept per peer. */
export class LinkTable {
  /** The established connection of each peer: one per pair. */
  readonly links = new Map<string, Connection>();
  /** Every open connection, handshaking or established. */
  readonly open = new Set<Connection>();
  private readonly id: string;
  private readonly now: () => number;

  /** @param id this member's id. */
  constructor(id: string, now: () => number) {
    this.id = id;
    this.now = now;
  }

  /** Incoming connections still in their handshake. */
  pendingIncoming(): number {
    let n = 0;
    for (const c of this.open) if (c.direction === 'in' && c.state === 'handshaking') n++;
    return n;
  }

  /** Connection counts for `stats()`. */
  counts(): { open: number; pending: number; established: number } {
    let pending = 0;
    for (const c of this.open) if (c.state === 'handshaking') pending++;
    return { open: this.open.size, pending, established: this.links.size };
  }

  /** The check of a peer's claimed identity, made by both sides of every handshake. */
  admit(peer: PeerIdentity): Refusal | undefined {
    if (peer.id === this.id) return { code: 'id', reason: `id '${peer.id}' ${OWN_ID_REASON}` };
    const existing = this.links.get(peer.id);
    if (existing?.peer !== undefined && existing.peer.incarnation !== peer.incarnation) {
      // Another process claims a live member's id. A restarted member is welcome once its old
      // connection is found dead (closed, or silent past the failure timeout).
      const silent = this.now() - existing.lastHeard > existing.failureTimeoutMs;
      if (!silent) return { code: 'id', reason: `id '${peer.id}' is already used by a live member at ${existing.peer.address}` };
    }
    return undefined;
  }

  /**
   * Whether `c` (authenticated, not yet usable by either side) would be a second connection to its
   * peer. Two members that dial each other at once used to establish both and then drop one,
   * losing or reordering the frames in flight on it. The rule, the same on both sides: an
   * established connection wins; otherwise the one opened by the smaller id (of two opened by
   * one member, the earlier). Only authenticated connections count (established, or outgoing past
   * the peer's Welcome): an unproven Hello claiming the peer's identity must not block the peer.
   */
  redundant(c: Connection): string | undefined {
    const peer = c.peer;
    if (peer === undefined) return undefined;
    const opener = (x: Connection): string => (x.direction === 'out' ? this.id : peer.id);
    for (const o of this.open) {
      if (o === c || o.state === 'closed' || o.peer?.id !== peer.id || o.peer.incarnation !== peer.incarnation) continue;
      if (o.state === 'established') return `already connected to member '${peer.id}'`;
      if (o.direction === 'out' && opener(o) <= opener(c)) return `a connection to member '${peer.id}' opened by '${opener(o)}' is under way`;
    }
    return undefined;
  }

  /** Makes an established connection its peer's link, unless the pair keeps another one. */
  adopt(c: Connection, peer: PeerIdentity): LinkChange {
    const existing = this.links.get(peer.id);
    if (existing !== undefined && existing !== c) {
      if (existing.peer?.incarnation !== peer.incarnation) {
        // The peer restarted: its old incarnation is gone for good.
        existing.superseded = true;
        existing.close();
        this.links.set(peer.id, c);
        return { down: peer.id, up: peer.id };
      }
      // Both sides dialled at once: keep the connection the smaller id opened, on both sides alike.
      const opener = (x: Connection): string => (x.direction === 'out' ? this.id : peer.id);
      const keep = opener(c) < opener(existing) ? c : existing;
      const drop = keep === c ? existing : c;
      drop.superseded = true;
      drop.close();
      if (keep === c) this.links.set(peer.id, c);
      return {};
    }
    this.links.set(peer.id, c);
    return { up: peer.id };
  }

  /** Forgets a closed connection; true when it was its peer's link (the peer is gone). */
  release(c: Connection): boolean {
    this.open.delete(c);
    const peer = c.peer;
    if (peer === undefined || this.links.get(peer.id) !== c || c.superseded) return false;
    this.links.delete(peer.id);
    return true;
  }
}
