// RFC 2018 SACK as a receiver (our ACKs' blocks), RFC 2883 D-SACK, and the
// peer's blocks made available to the sender's scoreboard.
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/tcp/connection.ts';
import type { SackBlock, TcpOptions } from '../../src/tcp/options.ts';
import type { AppConnection } from '../helpers/tcp-peer.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const fill = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 3 + seed) & 0xff);
const b = (left: number, right: number): SackBlock => ({ left, right });

/** Passive open where the peer's SYN offers SACK (and `extra`); returns the accepted connection. */
function establishWithSack(peer: TcpPeer, extra: TcpOptions = {}): { conn: AppConnection; synAck: TcpOptions } {
  const server = peer.listen();
  peer.send({ flags: 'S', seq: 1000, options: { mss: 1460, sackPermitted: true, ...extra } });
  const synAck = peer.expect({ flags: 'SA', seq: 5000, ack: 1001 }).options;
  const tsEcho: TcpOptions = extra.timestamps === undefined ? {} : { timestamps: { value: 101, echo: 0 } };
  peer.send({ flags: 'A', seq: 1001, ack: 5001, options: tsEcho });
  return { conn: server.accept()!, synAck };
}

/** 100 bytes at `seq` from the peer; returns the SACK blocks of the ACK it provokes. */
function segment(peer: TcpPeer, seq: number, options: TcpOptions = {}): SackBlock[] | undefined {
  peer.send({ flags: 'A', seq, ack: 5001, data: fill(100, seq), options });
  return peer.expect({ flags: 'A', seq: 5001 }).options.sackBlocks;
}

describe('SACK-permitted (RFC 2018 §2)', () => {
  it('is answered in the SYN-ACK when offered, and reported by getInfo', () => {
    const peer = new TcpPeer();
    const { conn, synAck } = establishWithSack(peer);
    expect(synAck).toEqual({ mss: 1460, sackPermitted: true });
    expect(conn.conn.getInfo().sackPermitted).toBe(true);
    expect((conn.conn as Connection).sackPermitted).toBe(true);
  });

  it('is not used when the peer did not offer it, nor when switched off: out-of-order data gets plain duplicate ACKs', () => {
    for (const [config, options] of [
      [{}, { mss: 1460 }],
      [{ sack: 0 }, { mss: 1460, sackPermitted: true }],
    ] as const) {
      const peer = new TcpPeer({ config });
      const server = peer.listen();
      peer.send({ flags: 'S', seq: 1000, options });
      peer.expect({ flags: 'SA', options: { mss: 1460 } });
      peer.send({ flags: 'A', seq: 1001, ack: 5001 });
      expect(server.accept()!.conn.getInfo().sackPermitted).toBe(false);
      peer.send({ flags: 'A', seq: 2001, ack: 5001, data: fill(100) });
      peer.expect({ flags: 'A', ack: 1001, options: {} });
    }
  });
});

describe('SACK blocks in our ACKs (RFC 2018 §4)', () => {
  it('report out-of-order data, the most recently received first, at most 4 without timestamps', () => {
    const peer = new TcpPeer();
    establishWithSack(peer);
    expect(segment(peer, 2001)).toEqual([b(2001, 2101)]);
    expect(segment(peer, 3001)).toEqual([b(3001, 3101), b(2001, 2101)]);
    segment(peer, 4001);
    segment(peer, 5001);
    expect(segment(peer, 6001)).toEqual([b(6001, 6101), b(5001, 5101), b(4001, 4101), b(3001, 3101)]);
    // A segment extending an older range moves that range to the front.
    expect(segment(peer, 2101)).toEqual([b(2001, 2201), b(6001, 6101), b(5001, 5101), b(4001, 4101)]);
    // Filling the hole at RCV.NXT: the ACK moves, the rest stays reported.
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(1000) });
    const ack = peer.expect({ flags: 'A', ack: 2201 });
    expect(ack.options.sackBlocks).toEqual([b(6001, 6101), b(5001, 5101), b(4001, 4101), b(3001, 3101)]);
  });

  it('leave room for timestamps: 3 blocks at most beside them (40 bytes of options)', () => {
    const peer = new TcpPeer();
    const { synAck } = establishWithSack(peer, { timestamps: { value: 100, echo: 0 } });
    expect(synAck).toEqual({ mss: 1460, sackPermitted: true, timestamps: { value: 0, echo: 100 } });
    const tsOpt: TcpOptions = { timestamps: { value: 102, echo: 0 } };
    for (const seq of [2001, 3001, 4001]) segment(peer, seq, tsOpt);
    peer.send({ flags: 'A', seq: 5001, ack: 5001, data: fill(100), options: tsOpt });
    const ack = peer.expect({ flags: 'A', ack: 1001 });
    expect(ack.options).toEqual({ timestamps: { value: 0, echo: 101 }, sackBlocks: [b(5001, 5101), b(4001, 4101), b(3001, 3101)] });
  });

  it('report a duplicate first, once, as a D-SACK block (RFC 2883)', () => {
    const peer = new TcpPeer();
    establishWithSack(peer);
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(100) });
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 1101, options: {} });
    // The peer retransmits what we have: wholly old, answered at once.
    expect(segment(peer, 1001)).toEqual([b(1001, 1101)]);
    // With out-of-order data held, the D-SACK block leads the SACK blocks.
    segment(peer, 3001);
    peer.send({ flags: 'A', seq: 1051, ack: 5001, data: fill(100) });
    const ack = peer.expect({ flags: 'A', ack: 1151 });
    expect(ack.options.sackBlocks).toEqual([b(1051, 1101), b(3001, 3101)]);
    // Reported once: the next ACK carries only the SACK block.
    expect(segment(peer, 4001)).toEqual([b(4001, 4101), b(3001, 3101)]);
    // Text beyond the window is refused, but it is no duplicate.
    expect(segment(peer, 1151 + 70_000)).toEqual([b(4001, 4101), b(3001, 3101)]);
  });

  it('D-SACK can be switched off (dsack: 0)', () => {
    const peer = new TcpPeer({ config: { dsack: 0 } });
    establishWithSack(peer);
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(100) });
    peer.advance(40);
    peer.drain();
    expect(segment(peer, 1001)).toBeUndefined();
  });
});

describe("the peer's SACK blocks (for the sender's scoreboard)", () => {
  it('are parsed from each arriving segment into Connection.peerSackBlocks', () => {
    const peer = new TcpPeer();
    const { conn } = establishWithSack(peer);
    const c = conn.conn as Connection;
    conn.setNoDelay(true);
    conn.write(fill(4000));
    peer.drain();
    peer.send({ flags: 'A', seq: 1001, ack: 5001, options: { sackBlocks: [b(6461, 7921), b(9381, 9001)] } });
    expect(c.peerSackBlocks).toEqual([b(6461, 7921), b(9381, 9001)]);
    peer.send({ flags: 'A', seq: 1001, ack: 6461 });
    expect(c.peerSackBlocks).toEqual([]);
  });
});
