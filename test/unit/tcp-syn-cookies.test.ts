// RFC 4987 §3.6 SYN cookies: a full SYN queue (or synCookies: 2) answers
// SYNs without keeping state; a valid returning ACK creates the connection.
import { describe, expect, it } from 'vitest';
import { COOKIE_MSS_TABLE, SynCookieJar, cookieMssIndex, cookieTimestamp, decodeCookieOptions, encodeCookieOptions } from '../../src/tcp/syn-cookies.ts';
import type { Emitted } from '../helpers/tcp-peer.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const SECRET = new Uint8Array(32).fill(7);

/** A listener with a SYN queue of 2, filled by two half-open handshakes (ports 1001, 1002). */
function floodedListener(config = {}) {
  const peer = new TcpPeer({ config });
  const server = peer.listen({ synBacklog: 2 });
  for (const port of [1001, 1002]) {
    peer.send({ flags: 'S', seq: 100, srcPort: port, options: { mss: 1460 } });
    peer.expect({ flags: 'SA', seq: 5000, dstPort: port });
  }
  expect(server.listener.getInfo().synQueueLength).toBe(2);
  return { peer, server };
}

/** The SYN from port 2000 that finds the queue full; returns the cookie SYN-ACK. */
function cookieSyn(peer: TcpPeer, options = {}): Emitted {
  peer.send({ flags: 'S', seq: 7000, srcPort: 2000, options: { mss: 1460, ...options } });
  return peer.expect({ flags: 'SA', ack: 7001, dstPort: 2000 });
}

describe('SYN cookies (RFC 4987)', () => {
  it('take over when the SYN queue is full; the cookie ACK completes the handshake and data flows', () => {
    const { peer, server } = floodedListener();
    const synAck = cookieSyn(peer);
    // No state: the queue and the table are as they were; the ISN is the cookie.
    expect(synAck.seq).not.toBe(5000);
    expect(synAck.options).toEqual({ mss: 1460 });
    expect(synAck.win).toBe(64240);
    expect(server.listener.getInfo()).toMatchObject({ synQueueLength: 2, synQueueOverflows: 0 });
    expect(peer.tcp.connectionCount).toBe(2);
    expect(peer.tcp.stats.cookiesSent).toBe(1);

    const iss = synAck.seq;
    peer.advance(50);
    peer.send({ flags: 'PA', seq: 7001, ack: iss + 1, srcPort: 2000, data: 'GET /' });
    expect(peer.tcp.stats.cookiesValidated).toBe(1);
    const conn = server.accept()!;
    expect(conn.state).toBe('ESTABLISHED');
    expect(conn.conn.remotePort).toBe(2000);
    expect(conn.conn.getInfo()).toMatchObject({ iss, irs: 7000, mss: 1460, sndUna: iss + 1, rcvNxt: 7006 });
    expect(conn.read()).toEqual(new TextEncoder().encode('GET /'));
    conn.write('200 OK');
    peer.expect({ flags: 'PA', seq: iss + 1, ack: 7006, data: '200 OK', dstPort: 2000 });
    // The half-open entries were never disturbed.
    expect(server.listener.getInfo()).toMatchObject({ synQueueLength: 2, acceptQueueLength: 0 });
  });

  it('a forged cookie ACK creates nothing and is answered with RST, as any ACK to a listener', () => {
    const { peer, server } = floodedListener();
    const iss = cookieSyn(peer).seq;
    peer.send({ flags: 'A', seq: 7001, ack: iss + 2, srcPort: 2000 });
    peer.expect({ flags: 'R', seq: iss + 2, dstPort: 2000 });
    // Right ACK, wrong sequence number (not the SYN the cookie was made for).
    peer.send({ flags: 'A', seq: 7501, ack: iss + 1, srcPort: 2000 });
    peer.expect({ flags: 'R', seq: iss + 1 });
    // The right cookie from another port.
    peer.send({ flags: 'A', seq: 7001, ack: iss + 1, srcPort: 2001 });
    peer.expect({ flags: 'R', seq: iss + 1, dstPort: 2001 });
    expect(peer.tcp.stats.cookiesRejected).toBe(3);
    expect(peer.tcp.stats.cookiesValidated).toBe(0);
    expect(server.accept()).toBeUndefined();
    expect(peer.tcp.connectionCount).toBe(2);
  });

  it('expire after one to two minutes (the current and the previous 60 s period)', () => {
    const peer = new TcpPeer({ config: { synCookies: 2 } });
    const server = peer.listen();
    peer.advance(59_000);
    peer.send({ flags: 'S', seq: 7000, srcPort: 2000 });
    const iss = peer.expect({ flags: 'SA' }).seq;
    peer.send({ flags: 'S', seq: 8000, srcPort: 2001 });
    const iss2 = peer.expect({ flags: 'SA' }).seq;
    peer.advanceTo(119_999);
    peer.send({ flags: 'A', seq: 7001, ack: iss + 1, srcPort: 2000 });
    expect(server.accept()?.state).toBe('ESTABLISHED');
    peer.advanceTo(120_000);
    peer.send({ flags: 'A', seq: 8001, ack: iss2 + 1, srcPort: 2001 });
    peer.expect({ flags: 'R', dstPort: 2001 });
    expect(peer.tcp.stats.cookiesRejected).toBe(1);
    expect(server.accept()).toBeUndefined();
  });

  it('remember MSS (rounded down to the table), window scale and SACK in the timestamp, when the peer sends one', () => {
    const { peer, server } = floodedListener({ rcvBuf: 1 << 20 });
    const synAck = cookieSyn(peer, { mss: 1400, sackPermitted: true, windowScale: 7, timestamps: { value: 900, echo: 0 } });
    expect(synAck.options).toMatchObject({ mss: 1460, sackPermitted: true, windowScale: 5 });
    const tsVal = synAck.options.timestamps!.value;
    expect(synAck.options.timestamps!.echo).toBe(900);
    // Low 6 bits: shift 7, SACK (0x10); never in the future (modulo 2^32:
    // at t = 0 it is one 64-tick step back, just below the wrap).
    expect(tsVal & 0x3f).toBe(7 | 0x10);
    expect((tsVal - Math.floor(peer.now)) | 0).toBeLessThanOrEqual(0);
    peer.advance(10);
    peer.send({ flags: 'A', seq: 7001, ack: synAck.seq + 1, srcPort: 2000, win: 100, options: { timestamps: { value: 910, echo: tsVal } } });
    const conn = server.accept()!;
    expect(conn.conn.getInfo()).toMatchObject({
      mss: 1300,
      sackPermitted: true,
      timestamps: true,
      tsRecent: 910,
      windowScaling: true,
      sndWscale: 7,
      rcvWscale: 5,
      sndWnd: 100 << 7,
    });
    conn.write('x');
    peer.expect({ flags: 'PA', data: 'x', options: { timestamps: { value: 10, echo: 910 } } });
  });

  it('without timestamps, offer neither window scaling nor SACK (nothing could remember them)', () => {
    const { peer, server } = floodedListener();
    const synAck = cookieSyn(peer, { sackPermitted: true, windowScale: 7 });
    expect(synAck.options).toEqual({ mss: 1460 });
    peer.send({ flags: 'A', seq: 7001, ack: synAck.seq + 1, srcPort: 2000, win: 100 });
    expect(server.accept()!.conn.getInfo()).toMatchObject({ sackPermitted: false, windowScaling: false, sndWnd: 100 });
  });

  it('a valid cookie ACK finding the accept queue full is dropped (Linux ListenOverflows)', () => {
    const peer = new TcpPeer({ config: { synCookies: 2 } });
    const server = peer.listen({ backlog: 1 });
    peer.send({ flags: 'S', seq: 100, srcPort: 1001 });
    const first = peer.expect({ flags: 'SA' });
    peer.send({ flags: 'S', seq: 200, srcPort: 1002 });
    const second = peer.expect({ flags: 'SA' });
    peer.send({ flags: 'A', seq: 101, ack: first.seq + 1, srcPort: 1001 });
    peer.send({ flags: 'A', seq: 201, ack: second.seq + 1, srcPort: 1002 });
    peer.expectNothing();
    expect(server.listener.getInfo()).toMatchObject({ acceptQueueLength: 1, acceptQueueOverflows: 1 });
    expect(peer.tcp.connectionCount).toBe(1);
    // Once there is room, the client's next segment (still carrying the cookie) gets in.
    server.accept();
    peer.send({ flags: 'PA', seq: 201, ack: second.seq + 1, srcPort: 1002, data: 'late' });
    expect(server.accept()!.readableLength).toBe(4);
  });

  it("'always' mode (synCookies: 2) keeps no SYN-queue entry at all; 0 never sends cookies", () => {
    const always = new TcpPeer({ config: { synCookies: 2 } });
    const server = always.listen();
    always.send({ flags: 'S', seq: 100 });
    const synAck = always.expect({ flags: 'SA', ack: 101 });
    expect(always.tcp.connectionCount).toBe(0);
    expect(server.listener.getInfo().synQueueLength).toBe(0);
    always.send({ flags: 'A', seq: 101, ack: synAck.seq + 1 });
    expect(server.accept()?.state).toBe('ESTABLISHED');

    const { peer } = floodedListener({ synCookies: 0 });
    peer.send({ flags: 'S', seq: 7000, srcPort: 2000 });
    peer.expectNothing();
    expect(peer.tcp.stats.synQueueOverflows).toBe(1);
  });

  it('an ACK to a listener that sent no cookies lately is not checked, just reset', () => {
    const peer = new TcpPeer();
    peer.listen();
    peer.send({ flags: 'A', seq: 1000, ack: 777 });
    peer.expect({ flags: 'R', seq: 777 });
    expect(peer.tcp.stats.cookiesRejected).toBe(0);
  });
});

describe('the cookie itself', () => {
  it('round-trips the MSS index within its time window, and depends on the whole 4-tuple and the SYN', () => {
    const jar = new SynCookieJar(SECRET);
    const cookie = jar.make(1, 80, 2, 4000, 12345, 2, 30_000);
    expect(jar.check(1, 80, 2, 4000, 12345, cookie, 30_000)).toBe(2);
    expect(jar.check(1, 80, 2, 4000, 12345, cookie, 119_999)).toBe(2);
    expect(jar.check(1, 80, 2, 4000, 12345, cookie, 120_000)).toBe(-1);
    expect(jar.check(1, 80, 2, 4001, 12345, cookie, 30_000)).toBe(-1);
    expect(jar.check(1, 80, 3, 4000, 12345, cookie, 30_000)).toBe(-1);
    expect(jar.check(1, 80, 2, 4000, 12346, cookie, 30_000)).toBe(-1);
    expect(new SynCookieJar(new Uint8Array(32).fill(8)).check(1, 80, 2, 4000, 12345, cookie, 30_000)).toBe(-1);
  });

  it('rejects nearly every forgery', () => {
    const jar = new SynCookieJar(SECRET);
    let accepted = 0;
    for (let guess = 0; guess < 20_000; guess++) {
      if (jar.check(1, 80, 2, 4000, 12345, (guess * 214_013 + 2_531_011) >>> 0, 30_000) >= 0) accepted++;
    }
    expect(accepted).toBeLessThanOrEqual(1);
  });

  it('MSS table and timestamp bits as Linux lays them out', () => {
    expect(COOKIE_MSS_TABLE).toEqual([536, 1300, 1440, 1460]);
    expect([100, 536, 1299, 1300, 1459, 1460, 9000].map(cookieMssIndex)).toEqual([0, 0, 0, 1, 2, 3, 3]);
    expect(encodeCookieOptions(undefined, false)).toBe(0x0f);
    expect(encodeCookieOptions(7, true)).toBe(0x17);
    expect(cookieTimestamp(1000, 0x17)).toBe(983); // 1000 = 15*64 + 40; 960|23 = 983
    expect(cookieTimestamp(1000, 0x3f)).toBe(959); // 960|63 = 1023 is in the future: one step back
    expect(decodeCookieOptions(983, true, true)).toEqual({ peerShift: 7, sack: true });
    expect(decodeCookieOptions(0x0f, true, true)).toEqual({ peerShift: undefined, sack: false });
    expect(decodeCookieOptions(0x17, false, true)).toBeNull();
    expect(decodeCookieOptions(0x20, true, true)).toBeNull();
  });
});
