// RFC 5961: blind in-window attacks. RST only at exactly RCV.NXT, a
// challenge ACK for an in-window RST or any SYN, old ACKs dropped, and a
// stack-wide rate limit on challenge ACKs.
import { describe, expect, it } from 'vitest';
import { TcpPeer } from '../helpers/tcp-peer.ts';

describe('RST (RFC 5961 §3.2)', () => {
  it('in the window but not at RCV.NXT: challenge ACK, no reset; the exact one resets', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'R', seq: 1002 });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001 });
    peer.send({ flags: 'RA', seq: 1001 + 40_000, ack: 5001 });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001 });
    expect(conn.state).toBe('ESTABLISHED');
    expect(peer.tcp.stats).toMatchObject({ challengeAcks: 2, rstsIgnored: 2, rstsAccepted: 0, connectionsReset: 0 });
    peer.send({ flags: 'R', seq: 1001 });
    peer.expectNothing();
    expect(conn.events).toEqual(['close:ECONNRESET']);
    expect(peer.tcp.stats).toMatchObject({ rstsAccepted: 1, connectionsReset: 1 });
  });

  it('outside the window: silently dropped, counted', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'R', seq: 1001 + 70_000 });
    peer.expectNothing();
    expect(conn.state).toBe('ESTABLISHED');
    expect(peer.tcp.stats).toMatchObject({ rstsIgnored: 1, challengeAcks: 0 });
  });

  it('applies after data moved RCV.NXT: the old RCV.NXT no longer resets', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'abc' });
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 1004 });
    peer.send({ flags: 'R', seq: 1003 });
    // 1003 is below RCV.NXT: outside the window.
    peer.expectNothing();
    peer.send({ flags: 'R', seq: 1005 });
    peer.expect({ flags: 'A', ack: 1004 });
    expect(conn.state).toBe('ESTABLISHED');
    peer.send({ flags: 'R', seq: 1004 });
    expect(conn.state).toBe('CLOSED');
  });
});

describe('SYN on a synchronized connection (RFC 5961 §4)', () => {
  it('in the window or not: a challenge ACK, never a reset', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'S', seq: 1500 });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001 });
    peer.send({ flags: 'S', seq: 900_000 });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001 });
    expect(conn.state).toBe('ESTABLISHED');
    expect(conn.events).toEqual([]);
    expect(peer.tcp.stats.challengeAcks).toBe(2);
    // A peer that really restarted answers the challenge with the exact RST.
    peer.send({ flags: 'R', seq: 1001 });
    expect(conn.events).toEqual(['close:ECONNRESET']);
  });
});

describe('ACK validity (RFC 5961 §5)', () => {
  it('an ACK older than SND.UNA - MAX.SND.WND drops the segment with a challenge ACK; within it, text is taken', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ win: 1000 });
    conn.write(new Uint8Array(3000));
    peer.expect({ flags: 'A', seq: 5001, len: 500 });
    peer.expect({ flags: 'A', seq: 5501, len: 500 });
    peer.send({ flags: 'A', seq: 1001, ack: 6001, win: 1000 });
    peer.expect({ flags: 'A', seq: 6001, len: 500 });
    peer.expect({ flags: 'A', seq: 6501, len: 500 });
    peer.send({ flags: 'A', seq: 1001, ack: 7001, win: 1000 });
    peer.drain();
    // SND.UNA = 7001, MAX.SND.WND = 1000: acceptable ACKs start at 6001.
    peer.send({ flags: 'PA', seq: 1001, ack: 5900, win: 1000, data: 'evil' });
    peer.expect({ flags: 'A', seq: 8001, ack: 1001, len: 0 });
    expect(conn.readableLength).toBe(0);
    expect(peer.tcp.stats).toMatchObject({ oldAcksDropped: 1, challengeAcks: 1 });
    // A merely old duplicate ACK (above SND.UNA - MAX.SND.WND) carries text as usual.
    peer.send({ flags: 'PA', seq: 1001, ack: 6500, win: 1000, data: 'good' });
    expect(conn.readableLength).toBe(4);
  });
});

describe('challenge ACK rate limit (RFC 5961 §7)', () => {
  it('at most challengeAckLimit per second (random jitter at its midpoint), stack-wide, counted', () => {
    const peer = new TcpPeer({ config: { challengeAckLimit: 10 }, random: () => 0.5 });
    const { conn } = peer.establishPassive();
    for (let i = 0; i < 25; i++) peer.send({ flags: 'S', seq: 2000 + i });
    // Linux's budget: limit/2 + random below limit = 5 + 5.
    expect(peer.drain()).toHaveLength(10);
    expect(peer.tcp.stats).toMatchObject({ challengeAcks: 10, challengeAcksSuppressed: 15 });
    // A new second, a new budget.
    peer.advance(1000);
    peer.send({ flags: 'R', seq: 1500 });
    peer.expect({ flags: 'A', ack: 1001 });
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('the budget is randomized each second, between limit/2 and 1.5 * limit', () => {
    const budgets: number[] = [];
    for (const r of [0, 0.999]) {
      const peer = new TcpPeer({ config: { challengeAckLimit: 100 }, random: () => r });
      peer.establishPassive();
      for (let i = 0; i < 300; i++) peer.send({ flags: 'S', seq: 2000 + i });
      budgets.push(peer.drain().length);
    }
    expect(budgets).toEqual([50, 149]);
  });
});
