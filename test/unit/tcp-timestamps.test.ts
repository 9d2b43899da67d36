// RFC 7323 §3-5: timestamps: negotiation, TSval/TSecr on every segment,
// TS.Recent, RTT measurement (RTTM) and PAWS. The peer harness sets our TS
// offset to 0, so our TSval reads as the virtual time in ms.
import { describe, expect, it } from 'vitest';
import type { TcpOptions } from '../../src/tcp/options.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const fill = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 5 + seed) & 0xff);
const ts = (value: number, echo: number): TcpOptions => ({ timestamps: { value, echo } });

/**
 * < S 1000 <mss 1460,TS val 100 ecr 0>        (t = 0)
 * > SA 5000 ack 1001 <mss 1460,TS val 0 ecr 100>
 * < A 1001 ack 5001 <TS val 110 ecr 0>        (t = 10)
 */
function establishWithTimestamps(peer: TcpPeer, extra: TcpOptions = {}) {
  const server = peer.listen();
  peer.send({ flags: 'S', seq: 1000, options: { mss: 1460, timestamps: { value: 100, echo: 0 }, ...extra } });
  const synAck = peer.expect({ flags: 'SA', seq: 5000, ack: 1001 });
  peer.advance(10);
  peer.send({ flags: 'A', seq: 1001, ack: 5001, options: ts(110, 0) });
  const conn = server.accept()!;
  return { conn, synAck };
}

describe('timestamps (RFC 7323)', () => {
  it('are negotiated when the SYN offers them: the SYN-ACK echoes TSval, every segment then carries TSopt', () => {
    const peer = new TcpPeer();
    const { conn, synAck } = establishWithTimestamps(peer);
    expect(synAck.options).toEqual({ mss: 1460, timestamps: { value: 0, echo: 100 } });
    expect(conn.conn.getInfo()).toMatchObject({ timestamps: true, tsRecent: 110, dataOptionsLength: 12 });

    peer.advance(10);
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'hello', options: ts(120, 10) });
    peer.advance(40);
    peer.expect({ flags: 'A', seq: 5001, ack: 1006, options: ts(60, 120), at: 60 });

    // Data, keepalive probes, window updates: all carry it, echoing TS.Recent.
    conn.write('world');
    peer.expect({ flags: 'PA', data: 'world', options: ts(60, 120) });
  });

  it('take 12 bytes of every full segment: 1448 bytes of payload with an MSS of 1460 (RFC 6691)', () => {
    const peer = new TcpPeer();
    const { conn } = establishWithTimestamps(peer);
    conn.setNoDelay(true);
    conn.write(fill(3000));
    peer.expect({ flags: 'A', seq: 5001, len: 1448, options: ts(10, 110) });
    peer.expect({ flags: 'A', seq: 6449, len: 1448, options: ts(10, 110) });
    peer.expect({ flags: 'PA', seq: 7897, len: 104 });
    expect(conn.conn.getInfo().mss).toBe(1460);
  });

  it('echo the earliest unacknowledged segment: TS.Recent moves only for SEG.SEQ <= Last.ACK.sent (§4.3)', () => {
    const peer = new TcpPeer();
    establishWithTimestamps(peer);
    peer.advance(20);
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(1448), options: ts(200, 10) });
    peer.advance(1);
    // Beyond Last.ACK.sent (1001): its TSval is not recorded.
    peer.send({ flags: 'A', seq: 2449, ack: 5001, data: fill(1448), options: ts(201, 10) });
    // Two full segments: ACK at once, echoing the first one's TSval.
    peer.expect({ flags: 'A', ack: 3897, options: ts(31, 200), at: 31 });
    peer.advance(5);
    peer.send({ flags: 'PA', seq: 3897, ack: 5001, data: 'x', options: ts(205, 10) });
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 3898, options: ts(76, 205) });
  });

  it('measure RTT from the echo, even for a retransmitted segment (RTTM, §4.1)', () => {
    const run = (withTimestamps: boolean): number => {
      const peer = new TcpPeer();
      const { conn } = withTimestamps ? establishWithTimestamps(peer) : peer.establishPassive();
      const start = peer.now;
      conn.write('ping');
      peer.expect({ flags: 'PA', data: 'ping', at: start });
      // No answer: the retransmission timeout (200 ms) sends it again.
      peer.advance(200);
      const again = peer.expect({ flags: 'PA', data: 'ping', at: start + 200 });
      peer.advance(30);
      const echo = again.options.timestamps?.value ?? 0;
      peer.send({ flags: 'A', seq: 1001, ack: 5005, ...(withTimestamps ? { options: ts(400, echo) } : {}) });
      return conn.conn.getInfo().srtt;
    };
    // Karn's rule leaves the classic estimator without a sample: the ACK may
    // be for either transmission (srtt stays at the handshake's 0). The
    // echoed TSval says it was the second, 30 ms ago: srtt = 7/8 * 10 (this
    // handshake took 10 ms) + 1/8 * 30.
    expect(run(false)).toBe(0);
    expect(run(true)).toBeCloseTo((7 / 8) * 10 + 30 / 8);
  });

  it('an active open samples the RTT on the SYN-ACK and echoes its TSval', () => {
    const peer = new TcpPeer({ ourPort: 50000, peerPort: 80, tsOffset: 1_000_000 });
    const client = peer.connect();
    peer.expect({ flags: 'S', options: { mss: 1460, sackPermitted: true, timestamps: { value: 1_000_000, echo: 0 }, windowScale: 1 } });
    peer.advance(25);
    peer.send({ flags: 'SA', seq: 9000, ack: 5001, options: { mss: 1460, timestamps: { value: 7000, echo: 1_000_000 } } });
    peer.expect({ flags: 'A', ack: 9001, options: ts(1_000_025, 7000) });
    expect(client.conn.getInfo()).toMatchObject({ timestamps: true, srtt: 25, sackPermitted: false, windowScaling: false });
  });

  it('are not used when the SYN did not offer them, nor when switched off', () => {
    for (const [config, options] of [
      [{}, { mss: 1460 }],
      [{ timestamps: 0 }, { mss: 1460, timestamps: { value: 100, echo: 0 } }],
    ] as const) {
      const peer = new TcpPeer({ config });
      const server = peer.listen();
      peer.send({ flags: 'S', seq: 1000, options });
      peer.expect({ flags: 'SA', options: { mss: 1460 } });
      peer.send({ flags: 'A', seq: 1001, ack: 5001, options: ts(110, 0) });
      const conn = server.accept()!;
      conn.setNoDelay(true);
      conn.write(fill(1460));
      peer.expect({ flags: 'PA', len: 1460, options: {} });
      expect(conn.conn.getInfo().timestamps).toBe(false);
    }
  });
});

describe('PAWS (RFC 7323 §5)', () => {
  it('drops a segment whose TSval is older than TS.Recent, ACKs it, and counts it', () => {
    const peer = new TcpPeer();
    const { conn } = establishWithTimestamps(peer);
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'stale', options: ts(50, 0) });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001, options: ts(10, 110) });
    expect(conn.readableLength).toBe(0);
    expect(peer.tcp.stats.pawsRejected).toBe(1);
    // The same bytes with a current timestamp are taken.
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'fresh', options: ts(111, 0) });
    expect(conn.read()).toEqual(new TextEncoder().encode('fresh'));
  });

  it('answers at most one stale segment per 500 ms, and a stale bare ACK not at all (Linux tcp_invalid_ratelimit)', () => {
    const peer = new TcpPeer();
    establishWithTimestamps(peer);
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'one', options: ts(50, 0) });
    peer.expect({ flags: 'A', ack: 1001 });
    peer.advance(100);
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'two', options: ts(51, 0) });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, win: 1000, options: ts(52, 0) });
    peer.expectNothing();
    peer.advance(400);
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'three', options: ts(53, 0) });
    peer.expect({ flags: 'A', ack: 1001, at: 510 });
    expect(peer.tcp.stats.pawsRejected).toBe(4);
  });

  it('a SYN with an old timestamp still gets the RFC 5961 challenge ACK', () => {
    const peer = new TcpPeer();
    establishWithTimestamps(peer);
    peer.send({ flags: 'S', seq: 3000, options: { timestamps: { value: 1, echo: 0 } } });
    peer.expect({ flags: 'A', ack: 1001 });
    expect(peer.tcp.stats).toMatchObject({ pawsRejected: 0, challengeAcks: 1 });
  });

  it('an RST is acceptable whatever its timestamp (§5.2)', () => {
    const peer = new TcpPeer();
    const { conn } = establishWithTimestamps(peer);
    peer.send({ flags: 'R', seq: 1001, options: ts(1, 0) });
    expect(conn.events).toEqual(['close:ECONNRESET']);
    expect(peer.tcp.stats.pawsRejected).toBe(0);
  });

  it('lets a duplicate ACK that was merely reordered through (Linux tcp_disordered_ack)', () => {
    const peer = new TcpPeer();
    const { conn } = establishWithTimestamps(peer);
    conn.setNoDelay(true);
    conn.write(fill(2000));
    peer.drain();
    peer.send({ flags: 'A', seq: 1001, ack: 6449, options: ts(130, 10) });
    peer.drain();
    // An older duplicate of that ACK, overtaken on the way.
    peer.send({ flags: 'A', seq: 1001, ack: 6449, options: ts(125, 10) });
    peer.expectNothing();
    expect(peer.tcp.stats.pawsRejected).toBe(0);
  });

  it('a TS.Recent idle for more than 24 days is replaced, not enforced (§5.5)', () => {
    const peer = new TcpPeer();
    const { conn } = establishWithTimestamps(peer);
    peer.advance(25 * 24 * 3600 * 1000);
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'late', options: ts(5, 0) });
    expect(conn.readableLength).toBe(4);
    expect(conn.conn.getInfo().tsRecent).toBe(5);
  });
});
