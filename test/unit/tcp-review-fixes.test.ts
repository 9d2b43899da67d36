// Fixes for a review of the TCP core, each with the scripted exchange that
// showed the bug: an orphan held for ever behind a zero window, a SYN at
// RCV.NXT-k whose text got in, a FIN beyond a gap lost under later text, the
// receive window rounded to our send MSS, and out-of-window segments ACKed
// one for one.
import { describe, expect, it } from 'vitest';
import { RST } from '../../src/tcp/flags.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const text = (n: number, c: string): string => c.repeat(n);

describe('an orphan behind a zero window (Linux tcp_probe_timer, tcp_orphan_retries)', () => {
  it('in FIN-WAIT-1 is reset and freed after orphanRetries probes, though the peer answers every one', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ win: 0 });
    conn.write(text(1000, 'z'));
    conn.conn.detach(peer.now);
    expect(conn.state).toBe('FIN-WAIT-1');
    peer.expectNothing();
    // RTT sample 0 on the handshake: RTO 200 ms, doubling per probe.
    const probeTimes = [200, 600, 1400, 3000, 6200, 12_600, 25_400, 51_000];
    for (const t of probeTimes) {
      peer.advanceTo(t);
      peer.expect({ flags: 'A', seq: 5001, len: 1, at: t });
      peer.send({ flags: 'A', seq: 1001, ack: 5001, win: 0 }); // still shut
      peer.expectNothing();
    }
    expect(peer.tcp.connectionCount).toBe(1);
    peer.advanceTo(102_199);
    peer.expectNothing();
    peer.advanceTo(102_200);
    peer.expect({ flags: 'R', seq: 5001, at: 102_200 });
    peer.expectNothing();
    expect(peer.tcp.connectionCount).toBe(0);
    expect(peer.tcp.stats.zeroWindowProbes).toBe(8);
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
  });

  it('the review probe: answering every probe for 200 minutes no longer keeps the TCB', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ win: 0 });
    conn.write(text(1000, 'z'));
    conn.conn.detach(peer.now);
    const resets: number[] = [];
    for (let i = 0; i < 200; i++) {
      peer.advance(60_000);
      for (const e of peer.drain()) {
        if ((e.flags & RST) !== 0) {
          resets.push(e.seq);
          continue;
        }
        peer.send({ flags: 'A', seq: 1001, ack: e.seq, win: 0 });
      }
    }
    expect(resets).toEqual([5001]);
    expect(peer.tcp.connectionCount).toBe(0);
  });

  it('the limit is orphanRetries', () => {
    const peer = new TcpPeer({ config: { orphanRetries: 2 } });
    const { conn } = peer.establishPassive({ win: 0 });
    conn.write(text(100, 'z'));
    conn.conn.detach(peer.now);
    for (const t of [200, 600]) {
      peer.advanceTo(t);
      peer.expect({ flags: 'A', seq: 5001, len: 1, at: t });
      peer.send({ flags: 'A', seq: 1001, ack: 5001, win: 0 });
    }
    peer.advanceTo(1400);
    peer.expect({ flags: 'R', seq: 5001, at: 1400 });
    expect(peer.tcp.connectionCount).toBe(0);
  });

  it('whose peer shrank the window over data in flight is bounded by maxRetries, answered or not', () => {
    // Linux tcp_retransmit_timer: the zero-window exception is not for orphans.
    const peer = new TcpPeer({ config: { maxRetries: 3 } });
    const { conn } = peer.establishPassive({ win: 1000 });
    conn.write(text(1000, 'y'));
    peer.expect({ flags: 'A', seq: 5001, len: 500 });
    peer.expect({ flags: 'PA', seq: 5501, len: 500 });
    conn.conn.detach(peer.now);
    peer.send({ flags: 'A', seq: 1001, ack: 5501, win: 0 }); // takes 500, shrinks to 0
    let resets = 0;
    for (let i = 0; i < 100 && resets === 0; i++) {
      peer.advance(1000);
      for (const e of peer.drain()) {
        if ((e.flags & RST) !== 0) resets++;
        else peer.send({ flags: 'A', seq: 1001, ack: 5501, win: 0 });
      }
    }
    expect(resets).toBe(1);
    expect(peer.tcp.connectionCount).toBe(0);
  });

  it('is an orphan thing only: a connection its application holds waits behind the window for ever (RFC 1122 §4.2.2.17)', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ win: 0 });
    conn.write(text(1000, 'z'));
    conn.shutdown(); // FIN-WAIT-1 too, but not detached
    let probes = 0;
    for (let i = 0; i < 200; i++) {
      peer.advance(60_000);
      for (const e of peer.drain()) {
        expect(e.flags & RST).toBe(0);
        probes++;
        peer.send({ flags: 'A', seq: 1001, ack: 5001, win: 0 });
      }
    }
    expect(probes).toBeGreaterThan(100);
    expect(conn.state).toBe('FIN-WAIT-1');
    expect(peer.tcp.connectionCount).toBe(1);
  });
});

describe('a SYN in a synchronized state (RFC 9293 §3.10.7.4 fourth, RFC 5961 §4.2)', () => {
  it('with text at RCV.NXT-1 gets a challenge ACK; its text is not delivered', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ autoRead: true });
    peer.send({ flags: 'SA', seq: 1000, ack: 5001, data: 'injected' });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001, len: 0 });
    peer.expectNothing();
    expect(conn.receivedText).toBe('');
    expect(conn.state).toBe('ESTABLISHED');
    expect(peer.tcp.stats.challengeAcks).toBe(1);
  });

  it('with text starting a few bytes before RCV.NXT likewise', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ autoRead: true });
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'hello' });
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 1006 });
    peer.send({ flags: 'S', seq: 1002, data: 'injected' }); // 1002..1011 reaches into the window
    peer.expect({ flags: 'A', seq: 5001, ack: 1006, len: 0 });
    peer.expectNothing();
    expect(conn.receivedText).toBe('hello');
    expect(peer.tcp.stats.challengeAcks).toBe(1);
    // The connection goes on as before.
    peer.send({ flags: 'PA', seq: 1006, ack: 5001, data: ' world' });
    expect(conn.receivedText).toBe('hello world');
  });
});

describe('a FIN beyond a gap', () => {
  it('is kept when the text that fills the gap runs past it: the text is cut at the FIN', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ autoRead: true });
    peer.send({ flags: 'FA', seq: 1101, ack: 5001, data: text(100, 'b') }); // FIN at 1201, gap 1001..1101
    peer.expect({ flags: 'A', ack: 1001 });
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: text(100, 'a') + text(100, 'b') + text(100, 'c') });
    peer.expect({ flags: 'A', ack: 1202 });
    peer.expectNothing();
    expect(conn.state).toBe('CLOSE-WAIT');
    expect(conn.receivedText).toBe(text(100, 'a') + text(100, 'b'));
    expect(conn.events).toContain('end');
  });

  it('text wholly beyond a remembered FIN is not kept', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ autoRead: true });
    peer.send({ flags: 'FA', seq: 1101, ack: 5001, data: text(100, 'b') });
    peer.expect({ flags: 'A', ack: 1001 });
    peer.send({ flags: 'PA', seq: 1301, ack: 5001, data: text(100, 'x') });
    peer.expect({ flags: 'A', ack: 1001 });
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: text(100, 'a') });
    peer.expect({ flags: 'A', ack: 1202 });
    expect(conn.state).toBe('CLOSE-WAIT');
    expect(conn.receivedText).toBe(text(100, 'a') + text(100, 'b'));
  });
});

describe('our receive window is rounded to the receive MSS, not the send MSS', () => {
  it('peer MSS 536, ours 1460, the peer sends 1448-byte segments: windows in whole 1448-byte segments', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000, win: 65535, options: { mss: 536, timestamps: { value: 1, echo: 0 } } });
    peer.expect({ flags: 'SA', seq: 5000, ack: 1001 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, options: { timestamps: { value: 2, echo: 0 } } });
    const conn = server.accept({ autoRead: true })!;
    expect(conn.state).toBe('ESTABLISHED');
    const wins: number[] = [];
    let seq = 1001;
    for (let i = 0; i < 8; i++) {
      peer.send({ flags: 'A', seq, ack: 5001, data: new Uint8Array(1448), options: { timestamps: { value: 3 + i, echo: 0 } } });
      seq += 1448;
      for (const e of peer.drain()) wins.push(e.win);
    }
    expect(conn.received.length).toBe(8 * 1448);
    // The first ACK still honours the right edge the SYN-ACK offered (in
    // units of 536 - 12 = 524, before the peer had sent anything); from then
    // on every window is whole segments of the size the peer really sends
    // (here 44 of them, one segment still unread when the ACK leaves).
    expect(wins).toEqual([62_604, 63_712, 63_712, 63_712]);
    expect(wins.slice(1).every((w) => w % 1448 === 0 && w % 524 !== 0)).toBe(true);
  });

  it('the receiver SWS threshold is the receive MSS too: no window update the peer cannot fill with a full segment', () => {
    const peer = new TcpPeer({ config: { rcvBuf: 8192 } });
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000, win: 65535, options: { mss: 536, timestamps: { value: 1, echo: 0 } } });
    peer.expect({ flags: 'SA' });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, options: { timestamps: { value: 2, echo: 0 } } });
    const conn = server.accept()!;
    // The peer fills the window with 1448-byte segments (the last one smaller).
    let seq = 1001;
    let win = 8192;
    for (let i = 0; win > 0; i++) {
      const n = Math.min(1448, win);
      peer.send({ flags: 'A', seq, ack: 5001, data: new Uint8Array(n), options: { timestamps: { value: 3 + i, echo: 0 } } });
      seq += n;
      peer.advance(50);
      for (const e of peer.drain()) win = e.win;
    }
    expect(conn.state).toBe('ESTABLISHED');
    // 1100 bytes free: less than one of the peer's segments, so no update
    // (with the send MSS, 524, this offered a window of 1048).
    conn.read(1100);
    peer.expectNothing();
    conn.read(400);
    peer.expect({ flags: 'A', ack: seq, win: 1448 });
  });
});

describe('duplicate ACKs for out-of-window segments (Linux tcp_invalid_ratelimit)', () => {
  it('10 out-of-window pure ACKs within 100 ms get one ACK; the next after 500 ms another', () => {
    const peer = new TcpPeer();
    peer.establishPassive();
    for (let i = 0; i < 10; i++) {
      peer.send({ flags: 'A', seq: 1001 + 200_000, ack: 5001 });
      peer.advance(10);
    }
    peer.expect({ flags: 'A', seq: 5001, ack: 1001, at: 0 });
    peer.expectNothing();
    expect(peer.tcp.stats.outOfWindowAcksSkipped).toBe(9);
    peer.advanceTo(499);
    peer.send({ flags: 'A', seq: 1001 + 200_000, ack: 5001 });
    peer.expectNothing();
    peer.advanceTo(500);
    peer.send({ flags: 'A', seq: 1001 + 200_000, ack: 5001 });
    peer.expect({ flags: 'A', ack: 1001, at: 500 });
  });

  it('the limit is invalidRateLimitMs, per connection', () => {
    const peer = new TcpPeer({ config: { invalidRateLimitMs: 50 } });
    peer.establishPassive();
    for (let i = 0; i < 10; i++) {
      peer.send({ flags: 'A', seq: 1001 + 200_000, ack: 5001 });
      peer.advance(10);
    }
    expect(peer.drain().map((e) => e.time)).toEqual([0, 50]);
  });

  it('keepalive probes (RCV.NXT-1) are answered at once, every one', () => {
    const peer = new TcpPeer();
    peer.establishPassive();
    for (let i = 0; i < 10; i++) {
      peer.send({ flags: 'A', seq: 1000, ack: 5001 });
      peer.expect({ flags: 'A', seq: 5001, ack: 1001 });
      peer.advance(10);
    }
    expect(peer.tcp.stats.outOfWindowAcksSkipped).toBe(0);
  });

  it('old text retransmitted is answered every time (its sender needs the ACK; not an ACK loop)', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ autoRead: true });
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'hello' });
    for (let i = 0; i < 5; i++) {
      peer.advance(10);
      peer.drain();
      peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'hello' });
      peer.expect({ flags: 'A', seq: 5001, ack: 1006 });
    }
    expect(conn.receivedText).toBe('hello');
  });
});
