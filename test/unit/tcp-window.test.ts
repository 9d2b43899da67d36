// Flow control: our advertised window (receiver SWS avoidance, zero window,
// window updates) and the peer's zero window (persist timer).
import { describe, expect, it } from 'vitest';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const fill = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff);

describe('our receive window', () => {
  it('closes to zero when the application stops reading, and a read reopens it with a window update', () => {
    const peer = new TcpPeer({ config: { rcvBuf: 4096 } });
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000, options: { mss: 1460 } });
    // 4096 free, offered in whole segments: 2 * 1460.
    peer.expect({ flags: 'SA', win: 2920 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    const conn = server.accept()!;
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(1460) });
    peer.expectNothing();
    peer.send({ flags: 'PA', seq: 2461, ack: 5001, data: fill(1460) });
    peer.expect({ flags: 'A', ack: 3921, win: 0 });
    expect(conn.conn.getInfo().rcvWnd).toBe(0);

    // The peer probes the zero window; we answer with the same ACK.
    peer.send({ flags: 'A', seq: 3921, ack: 5001, data: 'x' });
    peer.expect({ flags: 'A', ack: 3921, win: 0 });
    expect(conn.readableLength).toBe(2920);

    // 1176 bytes free: less than min(rcvBuf/2, MSS) = 1460, so the edge stays
    // (receiver SWS avoidance), and 100 more read do not change that.
    conn.read(100);
    peer.expectNothing();
    conn.read(200);
    peer.expect({ flags: 'A', seq: 5001, ack: 3921, win: 1460 });
    // A little more reading moves nothing.
    conn.read(10);
    peer.expectNothing();
    conn.read();
    peer.expect({ flags: 'A', ack: 3921, win: 2920 });
  });

  it('never shrinks: data arriving makes the window smaller only by what it consumed', () => {
    const peer = new TcpPeer({ config: { rcvBuf: 8192 } });
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000, options: { mss: 1460 } });
    peer.expect({ flags: 'SA', win: 7300 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    const conn = server.accept()!;
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(100) });
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 1101, win: 7200 });
    conn.read();
    // The edge may move by 100 only: below the SWS threshold, so no update and no change.
    peer.expectNothing();
    peer.send({ flags: 'A', seq: 1101, ack: 5001, data: fill(100) });
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 1201, win: 7100 });
  });

  it('is capped at 65535 without window scaling (in whole segments: 64240)', () => {
    const peer = new TcpPeer({ config: { rcvBuf: 1 << 20 } });
    peer.listen();
    peer.send({ flags: 'S', seq: 1000, options: { mss: 1000 } });
    peer.expect({ flags: 'SA', win: 65000 });
  });

  it('with a ring smaller than one segment, offers the whole ring', () => {
    const peer = new TcpPeer({ config: { rcvBuf: 1024 } });
    peer.listen();
    peer.send({ flags: 'S', seq: 1000, options: { mss: 1460 } });
    peer.expect({ flags: 'SA', win: 1024 });
  });

  it('data beyond a zero window is not taken, but the ACK on it is', () => {
    const peer = new TcpPeer({ config: { rcvBuf: 1024 } });
    const { conn } = peer.establishPassive();
    conn.write('ping');
    peer.expect({ flags: 'PA', data: 'ping' });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(1024) });
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 2025, win: 0 });
    peer.send({ flags: 'PA', seq: 2025, ack: 5005, data: 'more' });
    peer.expect({ flags: 'A', ack: 2025, win: 0 });
    expect(conn.conn.getInfo().sndUna).toBe(5005);
    expect(conn.readableLength).toBe(1024);
  });
});

describe("the peer's zero window: the persist timer (RFC 9293 §3.8.6.1)", () => {
  function zeroWindowSetup(config = {}): { peer: TcpPeer; conn: ReturnType<TcpPeer['establishPassive']>['conn'] } {
    const peer = new TcpPeer({ config });
    const { conn } = peer.establishPassive({ win: 1000 });
    conn.write(fill(3000));
    peer.expect({ flags: 'A', seq: 5001, len: 500 });
    peer.expect({ flags: 'A', seq: 5501, len: 500 });
    peer.send({ flags: 'A', seq: 1001, ack: 6001, win: 0 });
    peer.expectNothing();
    return { peer, conn };
  }

  it('probes with one byte of new data, backing off from the RTO to maxRto, for as long as the peer answers', () => {
    const { peer, conn } = zeroWindowSetup();
    // RTT sample 0 on the handshake: RTO = 200 ms minimum.
    let t = 0;
    let interval = 200;
    const seen: number[] = [];
    for (let i = 0; i < 14; i++) {
      t += interval;
      peer.advanceTo(t);
      const probe = peer.expect({ flags: 'A', seq: 6001, len: 1, ack: 1001, at: t });
      expect(probe.payload[0]).toBe(fill(3000)[1000]);
      seen.push(interval);
      peer.send({ flags: 'A', seq: 1001, ack: 6001, win: 0 });
      peer.expectNothing();
      interval = Math.min(interval * 2, 120_000);
    }
    expect(seen.slice(0, 6)).toEqual([200, 400, 800, 1600, 3200, 6400]);
    expect(seen.slice(-3)).toEqual([120_000, 120_000, 120_000]);
    expect(conn.state).toBe('ESTABLISHED');
    expect(peer.tcp.stats.zeroWindowProbes).toBe(14);
    // The window opens: data flows at once and the persist timer stops.
    peer.send({ flags: 'A', seq: 1001, ack: 6001, win: 65535 });
    peer.expect({ flags: 'A', seq: 6001, len: 1460 });
    // The 540-byte tail waits for that ACK (Nagle).
    peer.expectNothing();
    peer.send({ flags: 'A', seq: 1001, ack: 7461, win: 65535 });
    peer.expect({ flags: 'PA', seq: 7461, len: 540 });
  });

  it('a probe byte the peer accepts is acknowledged normally', () => {
    const { peer } = zeroWindowSetup();
    peer.advance(200);
    peer.expect({ flags: 'A', seq: 6001, len: 1 });
    peer.send({ flags: 'A', seq: 1001, ack: 6002, win: 2000 });
    peer.expect({ flags: 'A', seq: 6002, len: 1000 });
    peer.send({ flags: 'A', seq: 1001, ack: 7002, win: 2000 });
    peer.expect({ flags: 'PA', seq: 7002, len: 999 });
  });

  it('probes that are never answered end in ETIMEDOUT', () => {
    const { peer, conn } = zeroWindowSetup({ maxRetries: 3 });
    peer.advance(10_000);
    expect(peer.drain().map((s) => s.time)).toEqual([200, 600, 1400, 3000]);
    expect(conn.events.at(-1)).toBe('close:ETIMEDOUT');
  });
});
