// Keepalive (RFC 1122 §4.2.3.6, RFC 9293 §3.8.4) beyond the basics in
// tcp-retransmit.test.ts: what counts as activity, the Node-style
// setKeepAlive(enable, initialDelay), unanswered probes, ETIMEDOUT.
import { describe, expect, it } from 'vitest';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const config = { keepAliveIntervalMs: 1000, keepAliveCount: 3 };

describe('keepalive', () => {
  it('probes only after initialDelay without any segment from the peer; each arrival restarts the idle time', () => {
    const peer = new TcpPeer({ config });
    const { conn } = peer.establishPassive();
    conn.conn.setKeepAlive(true, 5000, peer.now);
    peer.advance(4000);
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'hi' });
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 1003, at: 4040 });
    peer.advance(5000);
    // Idle since 4000: the first probe at 9000, SEG.SEQ = SND.NXT - 1, no data.
    peer.expect({ flags: 'A', seq: 5000, ack: 1003, len: 0, at: 9000 });
    peer.expectNothing();
  });

  it('an answered probe resets the count: only keepAliveCount probes in a row without answer end the connection', () => {
    const peer = new TcpPeer({ config });
    const { conn } = peer.establishPassive();
    conn.conn.setKeepAlive(true, 5000, peer.now);
    peer.advance(6000);
    expect(peer.drain().map((s) => s.time)).toEqual([5000, 6000]);
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    peer.advance(8000);
    // Idle again from 6000: probes at 11000, 12000, 13000; RST and ETIMEDOUT at 14000.
    expect(peer.drain().map((s) => [s.time, s.flags])).toEqual([
      [11_000, 0x10],
      [12_000, 0x10],
      [13_000, 0x10],
      [14_000, 0x04],
    ]);
    expect(conn.events).toEqual(['close:ETIMEDOUT']);
    expect(peer.tcp.stats).toMatchObject({ keepAliveProbes: 5, timeouts: 1 });
  });

  it('initialDelay 0 keeps the current delay (Node); setKeepAlive(false) stops the probes', () => {
    const peer = new TcpPeer({ config });
    const { conn } = peer.establishPassive();
    conn.conn.setKeepAlive(true, 3000, peer.now);
    conn.conn.setKeepAlive(false, 0, peer.now);
    peer.advance(10_000);
    peer.expectNothing();
    conn.conn.setKeepAlive(true, 0, peer.now);
    peer.advance(3000);
    peer.expect({ flags: 'A', seq: 5000, at: 13_000 });
  });

  it('sends no probe while data is outstanding: the retransmission timer watches the peer then', () => {
    const peer = new TcpPeer({ config: { ...config, maxRetries: 20 } });
    const { conn } = peer.establishPassive();
    conn.conn.setKeepAlive(true, 1000, peer.now);
    conn.write('unacked');
    peer.expect({ flags: 'PA', data: 'unacked' });
    peer.advance(3000);
    // Only retransmissions of the data (200, 600, 1400 ms...), never a keepalive probe.
    for (const s of peer.drain()) expect(s.payload.length).toBe(7);
    expect(peer.tcp.stats.keepAliveProbes).toBe(0);
  });

  it('probes carry timestamps when they were negotiated', () => {
    const peer = new TcpPeer({ config });
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000, options: { mss: 1460, timestamps: { value: 100, echo: 0 } } });
    peer.expect({ flags: 'SA' });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, options: { timestamps: { value: 101, echo: 0 } } });
    const conn = server.accept()!;
    conn.conn.setKeepAlive(true, 2000, peer.now);
    peer.advance(2000);
    peer.expect({ flags: 'A', seq: 5000, options: { timestamps: { value: 2000, echo: 101 } } });
  });
});
