// RFC 7323 §2: window scaling, negotiated on the SYNs, windows beyond 64 KiB.
import { describe, expect, it } from 'vitest';
import type { TcpOptions } from '../../src/tcp/options.ts';
import { receiveShift } from '../../src/tcp/window-scale.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const MiB = 1 << 20;
const fill = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 11 + seed) & 0xff);

/** Listen and answer the peer's SYN (seq 1000) carrying `options`; returns the SYN-ACK. */
function passiveSyn(peer: TcpPeer, options: TcpOptions, listen: { rcvBuf?: number } = {}) {
  const server = peer.listen(listen);
  peer.send({ flags: 'S', seq: 1000, win: 65535, options });
  const synAck = peer.expect({ flags: 'SA', seq: 5000, ack: 1001 });
  return { server, synAck };
}

describe('our shift (Linux tcp_select_initial_window: ilog2(space) - 15)', () => {
  it.each([
    [1024, 0],
    [65535, 0],
    [65536, 1],
    [MiB, 5],
    [4 * MiB, 7],
    [1 << 30, 14],
  ])('a ring of %i bytes announces %i', (capacity, shift) => {
    expect(receiveShift(capacity)).toBe(shift);
  });
});

describe('window scaling (RFC 7323 §2)', () => {
  it('passive, 1 MiB ring: our SYN-ACK announces shift 5 with an unscaled window; the peer window is read << 7', () => {
    const peer = new TcpPeer({ config: { rcvBuf: MiB } });
    const { server, synAck } = passiveSyn(peer, { mss: 1460, windowScale: 7 });
    // RFC 7323 §2.2: the window of a SYN-ACK is never scaled: at most 65535.
    expect(synAck.options).toEqual({ mss: 1460, windowScale: 5 });
    expect(synAck.win).toBe(65535);
    // The peer's ACK is not a SYN: its window field 100 means 100 << 7.
    peer.send({ flags: 'A', seq: 1001, ack: 5001, win: 100 });
    const conn = server.accept()!;
    expect(conn.conn.getInfo()).toMatchObject({ windowScaling: true, sndWscale: 7, rcvWscale: 5, sndWnd: 12_800 });

    // The sender fills exactly the scaled window (12800 = 8 * 1460 + 1120), not 100 bytes.
    conn.setNoDelay(true);
    conn.write(fill(12_800));
    for (let i = 0; i < 8; i++) peer.expect({ flags: 'A', seq: 5001 + i * 1460, len: 1460 });
    peer.expect({ flags: 'PA', seq: 5001 + 8 * 1460, len: 1120 });
    peer.expectNothing();
    expect(conn.conn.getInfo().bytesInFlight).toBe(12_800);

    // Our ACK of 1000 bytes: the field, shifted by our 5, is far beyond 64 KiB.
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, win: 100, data: fill(1000) });
    peer.advance(40);
    const ack = peer.expect({ flags: 'A', ack: 2001 });
    expect(ack.win << 5).toBeGreaterThan(65535);
    expect(ack.win << 5).toBeLessThanOrEqual(MiB - 1000);
    expect(conn.conn.getInfo().rcvWnd).toBe(ack.win << 5);
  });

  it('active, 1 MiB ring: SYN offers shift 5; the SYN-ACK window is unscaled, later windows are scaled', () => {
    const peer = new TcpPeer({ ourPort: 50000, peerPort: 80 });
    const client = peer.connect({ rcvBuf: MiB });
    peer.expect({ flags: 'S', seq: 5000, win: 65535, options: { mss: 1460, sackPermitted: true, timestamps: { value: 0, echo: 0 }, windowScale: 5 } });
    peer.send({ flags: 'SA', seq: 9000, ack: 5001, win: 1000, options: { mss: 1460, windowScale: 7 } });
    // Our ACK already offers the whole ring, in units of 32 bytes.
    const ack = peer.expect({ flags: 'A', seq: 5001, ack: 9001, options: {} });
    expect(ack.win << 5).toBeGreaterThan(1_000_000);
    expect(client.conn.getInfo()).toMatchObject({ sndWnd: 1000, sndWscale: 7, rcvWscale: 5, timestamps: false, sackPermitted: false });
    peer.send({ flags: 'A', seq: 9001, ack: 5001, win: 1000 });
    expect(client.conn.getInfo().sndWnd).toBe(128_000);
  });

  it('a shift above 14 is taken as 14 (RFC 7323 §2.3)', () => {
    const peer = new TcpPeer();
    const { server } = passiveSyn(peer, { mss: 1460, windowScale: 15 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, win: 2 });
    expect(server.accept()!.conn.getInfo()).toMatchObject({ sndWscale: 14, sndWnd: 2 << 14 });
  });

  it('is not used when the peer did not offer it: no option in the SYN-ACK, windows unscaled', () => {
    const peer = new TcpPeer({ config: { rcvBuf: MiB } });
    const { server, synAck } = passiveSyn(peer, { mss: 1460 });
    expect(synAck.options).toEqual({ mss: 1460 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, win: 100 });
    const conn = server.accept()!;
    expect(conn.conn.getInfo()).toMatchObject({ windowScaling: false, sndWscale: 0, rcvWscale: 0, sndWnd: 100 });
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, win: 100, data: 'x' });
    peer.advance(40);
    // 65535 at most: the SYN-ACK's 44 * 1460, less the byte received.
    peer.expect({ flags: 'A', ack: 1002, win: 64239 });
  });

  it('is not offered when switched off (windowScaling: 0), even to a peer that offers it', () => {
    const peer = new TcpPeer({ config: { rcvBuf: MiB, windowScaling: 0 } });
    const { server, synAck } = passiveSyn(peer, { mss: 1460, windowScale: 7 });
    expect(synAck.options).toEqual({ mss: 1460 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, win: 100 });
    expect(server.accept()!.conn.getInfo()).toMatchObject({ sndWnd: 100, sndWscale: 0 });
  });

  it('the right edge the peer sees never moves left while the ring fills, and the window closes to zero', () => {
    // 256 KiB: shift 3, so windows go in units of 8 bytes; 1001-byte
    // segments move RCV.NXT by amounts that are not multiples of 8.
    const peer = new TcpPeer({ config: { rcvBuf: 256 * 1024 } });
    const { server } = passiveSyn(peer, { mss: 1460, windowScale: 0 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    const conn = server.accept()!;
    let seq = 1001;
    let edge = 1001 + 65535; // what the SYN-ACK offered
    let zero = false;
    for (let i = 0; i < 400 && !zero; i++) {
      const len = Math.min(1001, edge - seq);
      if (len <= 0) {
        peer.advance(40);
      } else {
        peer.send({ flags: 'A', seq, ack: 5001, data: fill(len, i) });
        seq += len;
      }
      peer.advance(40);
      for (const ack of peer.drain()) {
        const right = ack.ack + (ack.win << 3);
        expect(right).toBeGreaterThanOrEqual(edge);
        edge = right;
        if (ack.win === 0) zero = true;
      }
    }
    expect(zero).toBe(true);
    // Everything the peer sent within the edges it was shown was kept.
    expect(conn.readableLength).toBe(seq - 1001);
    // Less at most one segment: receiver SWS avoidance (RFC 9293 §3.8.6.2.2)
    // never opens the edge by less than an MSS.
    expect(conn.readableLength).toBeGreaterThan(256 * 1024 - 1460);
    expect(peer.tcp.stats.unacceptableSegments).toBe(0);
  });
});
