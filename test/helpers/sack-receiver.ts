/**
 * A model receiver for loss-recovery tests: it plays the peer of a TcpPeer
 * whose stack is sending. Every data segment the stack emits "arrives" half
 * an RTT later unless the test drops it, and is acknowledged at once (no
 * delayed ACK) with SACK blocks as RFC 2018 §4 orders them (the block with
 * the newest segment first, then the others most recent first); the ACK
 * reaches the stack another half RTT later. Time advances from event to
 * event, with the stack's timers running in between.
 */
import type { Emitted, TcpPeer } from './tcp-peer.ts';
import type { SackBlock } from '../../src/tcp/options.ts';

export interface ReceiverOptions {
  rttMs: number;
  /** Sequence numbers whose FIRST transmission is lost. */
  dropFirst?: Iterable<number>;
  /** Sequence number -> how many of its transmissions are lost (the first ones). */
  dropCount?: ReadonlyMap<number, number>;
  /** Sequence number -> extra one-way delay (ms) of its first transmission: reordering. */
  delayFirst?: ReadonlyMap<number, number>;
  /** Report duplicates with a D-SACK block first (RFC 2883). */
  dsack?: boolean;
  /** Send SACK blocks in the ACKs. */
  sack: boolean;
  /** The peer's sequence number for its ACKs. */
  peerSeq: number;
  /** Stop at this virtual time (ms) at the latest. */
  untilMs: number;
  /** Stop once everything up to here is acknowledged. */
  untilAcked?: number;
  /** Raw window field of the ACKs. */
  win?: number;
  /** Called after each ACK was processed by the stack. */
  onAck?: () => void;
}

export interface ReceiverLog {
  /** Every data segment the stack sent, in order. */
  sent: Emitted[];
  /** Those that were retransmissions (sequence number sent before). */
  retransmissions: Emitted[];
  /** The receiver's cumulative ACK at the end. */
  rcvNxt: number;
}

interface Event {
  at: number;
  order: number;
  kind: 'arrive' | 'ack';
  seq: number;
  end: number;
  ack?: number;
  blocks?: SackBlock[];
}

export function runReceiver(peer: TcpPeer, firstSent: Emitted[], rcvNxtStart: number, o: ReceiverOptions): ReceiverLog {
  const drops = new Map<number, number>(o.dropCount ?? []);
  for (const seq of o.dropFirst ?? []) drops.set(seq, 1);
  const seen = new Set<number>();
  const log: ReceiverLog = { sent: [], retransmissions: [], rcvNxt: rcvNxtStart };
  const events: Event[] = [];
  let order = 0;
  let rcvNxt = rcvNxtStart;
  // Out-of-order ranges with a recency stamp.
  let ooo: { left: number; right: number; stamp: number }[] = [];
  let stamp = 0;

  const emitted = (segs: Emitted[]): void => {
    for (const s of segs) {
      if (s.payload.length === 0) continue;
      log.sent.push(s);
      const first = !seen.has(s.seq);
      if (!first) log.retransmissions.push(s);
      seen.add(s.seq);
      const left = drops.get(s.seq) ?? 0;
      if (left > 0) {
        drops.set(s.seq, left - 1);
        continue;
      }
      const extra = first ? (o.delayFirst?.get(s.seq) ?? 0) : 0;
      events.push({ at: s.time + o.rttMs / 2 + extra, order: order++, kind: 'arrive', seq: s.seq, end: s.seq + s.payload.length });
    }
  };
  emitted(firstSent);

  const arrive = (seq: number, end: number, at: number): void => {
    let dsack: SackBlock | undefined;
    if (end <= rcvNxt) {
      // A duplicate: acknowledged again (and reported, RFC 2883).
      dsack = { left: seq, right: end };
    } else if (ooo.some((r) => r.left <= seq && end <= r.right)) {
      dsack = { left: seq, right: end };
    } else if (seq <= rcvNxt) {
      rcvNxt = end;
    } else {
      ooo.push({ left: seq, right: end, stamp: ++stamp });
    }
    // Merge, and pull in what became contiguous.
    ooo.sort((a, b) => a.left - b.left);
    const merged: typeof ooo = [];
    for (const r of ooo) {
      const last = merged.at(-1);
      if (last !== undefined && r.left <= last.right) {
        last.right = Math.max(last.right, r.right);
        last.stamp = Math.max(last.stamp, r.stamp);
      } else merged.push({ ...r });
    }
    ooo = [];
    for (const r of merged) {
      if (r.left <= rcvNxt) rcvNxt = Math.max(rcvNxt, r.right);
      else ooo.push(r);
    }
    let blocks = o.sack ? [...ooo].sort((a, b) => b.stamp - a.stamp).slice(0, 4).map((r) => ({ left: r.left, right: r.right })) : [];
    if (o.sack && o.dsack === true && dsack !== undefined) blocks = [dsack, ...blocks].slice(0, 4);
    events.push({ at: at + o.rttMs / 2, order: order++, kind: 'ack', seq: 0, end: 0, ack: rcvNxt, blocks });
  };

  for (let guard = 0; guard < 200_000; guard++) {
    if (o.untilAcked !== undefined && rcvNxt >= o.untilAcked && events.length === 0) break;
    events.sort((a, b) => a.at - b.at || a.order - b.order);
    const next = events[0];
    const deadline = peer.tcp.nextDeadline();
    if (next === undefined && deadline === Infinity) break;
    const t = Math.min(next?.at ?? Infinity, deadline);
    if (t > o.untilMs) break;
    if (next === undefined || deadline < next.at) {
      peer.advanceTo(Math.max(peer.now, deadline));
      emitted(peer.drain());
      continue;
    }
    events.shift();
    if (next.at > peer.now) peer.advanceTo(next.at);
    emitted(peer.drain());
    if (next.kind === 'arrive') {
      arrive(next.seq, next.end, next.at);
    } else {
      peer.send({
        flags: 'A',
        seq: o.peerSeq,
        ack: next.ack!,
        win: o.win ?? 65535,
        ...(next.blocks!.length > 0 ? { options: { sackBlocks: next.blocks! } } : {}),
      });
      o.onAck?.();
      emitted(peer.drain());
    }
  }
  log.rcvNxt = rcvNxt;
  return log;
}
