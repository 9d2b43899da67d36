// Data transfer: delayed ACK, Nagle, cork, MSS, the peer's window, reassembly.
import { describe, expect, it } from 'vitest';
import { assertSameBytes, TcpPeer } from '../helpers/tcp-peer.ts';

const fill = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe('delayed ACK (RFC 9293 §3.8.6.3)', () => {
  it('one segment is ACKed when the 40 ms timer expires, exactly', () => {
    const peer = new TcpPeer();
    peer.establishPassive();
    peer.advance(10);
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: fill(1460) });
    peer.expectNothing();
    expect(peer.tcp.nextDeadline()).toBe(50);
    peer.advance(39.999);
    peer.expectNothing();
    peer.advance(0.001);
    peer.expect({ flags: 'A', seq: 5001, ack: 2461, at: 50 });
    expect(peer.tcp.stats.delayedAcks).toBe(1);
  });

  it('every second full-sized segment is ACKed at once', () => {
    const peer = new TcpPeer();
    peer.establishPassive();
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(1460) });
    peer.expectNothing();
    peer.send({ flags: 'A', seq: 2461, ack: 5001, data: fill(1460) });
    peer.expect({ flags: 'A', ack: 3921, at: 0 });
    peer.send({ flags: 'A', seq: 3921, ack: 5001, data: fill(1460) });
    peer.expectNothing();
    peer.send({ flags: 'A', seq: 5381, ack: 5001, data: fill(1460) });
    peer.expect({ flags: 'A', ack: 6841, at: 0 });
    peer.advance(100);
    peer.expectNothing();
  });

  it('delay is configurable and clamped to 500 ms', () => {
    const peer = new TcpPeer({ config: { delAckMs: 5000 } });
    peer.establishPassive();
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'x' });
    peer.advance(1000);
    peer.expect({ flags: 'A', ack: 1002, at: 500 });
  });

  it('the ACK rides on data the application sends before the timer', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'request' });
    peer.advance(5);
    conn.write('response');
    peer.expect({ flags: 'PA', seq: 5001, ack: 1008, data: 'response', at: 5 });
    peer.advance(100);
    peer.expectNothing();
  });

  it('reading everything up to a PSH sends the delayed ACK at once, until the connection turns out interactive', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    // A bulk sender's pushed segment, fully read: nobody will piggyback the ACK.
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'request 1' });
    peer.advance(5);
    conn.read();
    // Due at once, sent at the next poll (so that a reply written first carries it).
    expect(peer.tcp.nextDeadline()).toBe(5);
    peer.advance(0);
    peer.expect({ flags: 'A', ack: 1010, at: 5 });
    // We answer within the delayed-ACK time: request/response from now on.
    conn.write('response 1');
    peer.expect({ flags: 'PA', data: 'response 1' });
    peer.send({ flags: 'PA', seq: 1010, ack: 5011, data: 'request 2' });
    peer.advance(5);
    conn.read();
    peer.expectNothing();
    conn.write('response 2');
    peer.expect({ flags: 'PA', ack: 1019, data: 'response 2', at: 10 });
    // Without the PSH, or with data left unread, the ACK stays delayed.
    peer.send({ flags: 'A', seq: 1019, ack: 5021, data: 'abc' });
    conn.read(1);
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 1022, at: 50 });
  });

  it('out-of-order data is ACKed at once (duplicate ACK), and so is the segment filling the gap', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'A', seq: 1001 + 100, ack: 5001, data: fill(100, 100) });
    peer.expect({ flags: 'A', ack: 1001, at: 0 });
    expect(conn.conn.getInfo().oooBytes).toBe(100);
    expect(conn.readableLength).toBe(0);
    peer.send({ flags: 'A', seq: 1001 + 300, ack: 5001, data: fill(100, 300) });
    peer.expect({ flags: 'A', ack: 1001 });
    // Partly fills the first gap: still an immediate ACK.
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(50, 0) });
    peer.expect({ flags: 'A', ack: 1051 });
    peer.send({ flags: 'A', seq: 1051, ack: 5001, data: fill(50, 50) });
    peer.expect({ flags: 'A', ack: 1201 });
    peer.send({ flags: 'A', seq: 1201, ack: 5001, data: fill(100, 200) });
    peer.expect({ flags: 'A', ack: 1401 });
    expect(conn.conn.getInfo().oooBytes).toBe(0);
    const got = conn.read();
    const want = new Uint8Array(400);
    want.set(fill(100, 0).subarray(0, 50), 0);
    want.set(fill(50, 50), 50);
    want.set(fill(100, 100), 100);
    want.set(fill(100, 200), 200);
    want.set(fill(100, 300), 300);
    expect(got).toEqual(want);
  });

  it('a FIN beyond a gap is held until the gap fills', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'FA', seq: 1006, ack: 5001, data: 'world' });
    peer.expect({ flags: 'A', ack: 1001 });
    expect(conn.state).toBe('ESTABLISHED');
    expect(conn.events).toEqual([]);
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: 'hello' });
    peer.expect({ flags: 'A', ack: 1012 });
    expect(conn.state).toBe('CLOSE-WAIT');
    expect(conn.events).toEqual(['readable', 'end']);
    conn.read();
    expect(conn.receivedText).toBe('helloworld');
  });
});

describe('out-of-order reassembly', () => {
  it('delivers a shuffled stream byte-exact', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    const data = fill(40_000, 3);
    const starts: number[] = [];
    for (let o = 0; o < data.length; o += 1000) starts.push(o);
    // A fixed, repeatable shuffle.
    let state = 12345;
    for (let i = starts.length - 1; i > 0; i--) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      const j = state % (i + 1);
      [starts[i], starts[j]] = [starts[j]!, starts[i]!];
    }
    for (const o of starts) {
      peer.send({ flags: 'A', seq: 1001 + o, ack: 5001, data: data.subarray(o, o + 1000) });
      // Overlapping duplicates must not disturb anything.
      if (o % 3000 === 0) peer.send({ flags: 'A', seq: 1001 + o + 500, ack: 5001, data: data.subarray(o + 500, o + 1000) });
    }
    conn.read();
    assertSameBytes(conn.received, data);
    expect(conn.conn.getInfo().rcvNxt).toBe(1001 + 40_000);
  });

  it('too many separate holes: further out-of-order segments are dropped, the stream still completes', () => {
    const peer = new TcpPeer({ config: { maxOooRanges: 4 } });
    const { conn } = peer.establishPassive();
    const data = fill(20 * 100);
    for (let i = 1; i < 20; i += 2) peer.send({ flags: 'A', seq: 1001 + i * 100, ack: 5001, data: data.subarray(i * 100, i * 100 + 100) });
    expect(conn.conn.getInfo().oooBytes).toBe(400);
    expect(peer.tcp.stats.oooDropped).toBe(6);
    for (let i = 0; i < 20; i++) peer.send({ flags: 'A', seq: 1001 + i * 100, ack: 5001, data: data.subarray(i * 100, i * 100 + 100) });
    conn.read();
    assertSameBytes(conn.received, data);
  });
});

describe("Nagle's algorithm (RFC 9293 §3.7.4)", () => {
  it('on: a second small write waits for the ACK of the first', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.write('a');
    peer.expect({ flags: 'PA', seq: 5001, data: 'a' });
    conn.write('b');
    conn.write('c');
    peer.expectNothing();
    peer.advance(20);
    peer.send({ flags: 'A', seq: 1001, ack: 5002 });
    peer.expect({ flags: 'PA', seq: 5002, data: 'bc', at: 20 });
  });

  it('on: full-sized segments go regardless; only the small tail waits', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.write('a');
    peer.expect({ flags: 'PA', data: 'a' });
    conn.write(fill(3000));
    peer.expect({ flags: 'A', seq: 5002, len: 1460 });
    peer.expect({ flags: 'A', seq: 6462, len: 1460 });
    peer.expectNothing();
    peer.send({ flags: 'A', seq: 1001, ack: 7922 });
    peer.expect({ flags: 'PA', seq: 7922, len: 80 });
  });

  it('off (setNoDelay): every write goes at once', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.setNoDelay(true);
    conn.write('a');
    conn.write('b');
    peer.expect({ flags: 'PA', seq: 5001, data: 'a' });
    peer.expect({ flags: 'PA', seq: 5002, data: 'b' });
  });

  it('turning it off flushes what it held', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.write('a');
    conn.write('b');
    peer.expect({ flags: 'PA', data: 'a' });
    conn.setNoDelay(true);
    peer.expect({ flags: 'PA', data: 'b' });
  });

  it('shutdown pushes the held tail out with the FIN', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.write('a');
    conn.write('b');
    peer.expect({ flags: 'PA', data: 'a' });
    conn.shutdown();
    peer.expect({ flags: 'FPA', seq: 5002, data: 'b' });
  });
});

describe('TCP_CORK', () => {
  it('holds partial segments until a full MSS accumulates or uncork', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.setCork(true);
    conn.write('header ');
    conn.write('line');
    peer.expectNothing();
    conn.write(fill(1460 - 11 + 5));
    peer.expect({ flags: 'A', seq: 5001, len: 1460 });
    peer.expectNothing();
    conn.setCork(false);
    peer.expect({ flags: 'PA', seq: 6461, len: 5 });
    expect(conn.conn.getInfo().cork).toBe(false);
  });

  it('uncork pushes even while Nagle would wait', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.write('a');
    peer.expect({ flags: 'PA', data: 'a' });
    conn.setCork(true);
    conn.write('b');
    conn.setCork(false);
    peer.expect({ flags: 'PA', seq: 5002, data: 'b' });
  });
});

describe('MSS', () => {
  it('segments never exceed the MSS the peer offered', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ mss: 100 });
    expect(conn.conn.getInfo().mss).toBe(100);
    conn.write(fill(1000));
    const segs = peer.drain();
    expect(segs.map((s) => s.payload.length)).toEqual(Array(10).fill(100));
    expect(segs.at(-1)?.flags).toBe(0x18);
  });

  it('segments never exceed our own MTU - 40 either', () => {
    const peer = new TcpPeer({ mtu: 576 });
    const { conn } = peer.establishPassive({ mss: 1460 });
    conn.write(fill(2000));
    expect(peer.drain().map((s) => s.payload.length)).toEqual([536, 536, 536]);
    peer.send({ flags: 'A', seq: 1001, ack: 5001 + 3 * 536 });
    expect(peer.drain().map((s) => s.payload.length)).toEqual([392]);
  });

  it('a tiny MSS option is raised to 88 bytes', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ mss: 1 });
    expect(conn.conn.getInfo().mss).toBe(88);
  });
});

describe("the peer's receive window", () => {
  it('is never exceeded; SND.WL1/WL2 decide which segment updates it', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ win: 1000 });
    conn.write(fill(5000));
    // A full segment is at most half the largest window offered (Linux's
    // tcp_bound_to_half_wnd): two of them fill the window.
    peer.expect({ flags: 'A', seq: 5001, len: 500 });
    peer.expect({ flags: 'A', seq: 5501, len: 500 });
    peer.expectNothing();
    peer.send({ flags: 'A', seq: 1001, ack: 6001, win: 3000 });
    peer.expect({ flags: 'A', seq: 6001, len: 1460 });
    peer.expect({ flags: 'A', seq: 7461, len: 1460 });
    // 80 bytes of window left: below half the max window, held (sender SWS avoidance).
    peer.expectNothing();
    // An older segment (lower SEG.ACK) must not update the window.
    peer.send({ flags: 'A', seq: 1001, ack: 6001, win: 60000 });
    peer.expectNothing();
    peer.send({ flags: 'A', seq: 1001, ack: 8921, win: 3000 });
    peer.expect({ flags: 'PA', seq: 8921, len: 1080 });
  });

  it('randomized windows and ACKs: every segment stays inside SND.UNA + SND.WND', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ win: 5000 });
    const total = 200_000;
    const data = fill(total, 9);
    let written = conn.write(data);
    let state = 42;
    const rand = (n: number): number => {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      return state % n;
    };
    let una = 5001;
    let win = 5000;
    let highest = 5001;
    const received = new Uint8Array(total);
    for (let round = 0; round < 5000 && una < 5001 + total; round++) {
      for (const seg of peer.drain()) {
        // Only a one-byte probe may go beyond a zero window.
        if (win === 0 && seg.payload.length === 1) continue;
        expect(seg.seq + seg.payload.length).toBeLessThanOrEqual(una + win);
        received.set(seg.payload, seg.seq - 5001);
        highest = Math.max(highest, seg.seq + seg.payload.length);
      }
      // Acknowledge part of what was sent, with a new window.
      una = una + rand(highest - una + 1);
      win = rand(8000);
      peer.advance(1);
      peer.send({ flags: 'A', seq: 1001, ack: una, win });
      if (written < total) written += conn.write(data.subarray(written));
      if (win === 0) peer.advance(100_000);
    }
    expect(una).toBe(5001 + total);
    assertSameBytes(received, data);
  });
});
