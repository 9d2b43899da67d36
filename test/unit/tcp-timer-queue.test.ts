// Many connections' timers through the Tcp, in virtual time: the timer
// queue (src/tcp/timer-queue.ts) must fire each one at its own deadline, in
// deadline order, whatever order they were armed in, postponed or
// cancelled; nextDeadline() must always name the next one.
import { describe, expect, it } from 'vitest';
import { Prng } from '../../src/link/prng.ts';
import { TcpPeer, type AppConnection } from '../helpers/tcp-peer.ts';

const N = 2000;
const IRS = 1000;
const ISS = 5000;
const FIRST_PEER_PORT = 20_000;
const INTERVAL = 1000;
const COUNT = 3;

/** The stack's ports here are the peer's source ports: one per connection. */
function openMany(peer: TcpPeer, n: number): AppConnection[] {
  const server = peer.listen({ backlog: n, synBacklog: n });
  const conns: AppConnection[] = [];
  for (let k = 0; k < n; k++) {
    const srcPort = FIRST_PEER_PORT + k;
    peer.send({ flags: 'S', seq: IRS, srcPort, options: { mss: 1460 } });
    peer.expect({ flags: 'SA', dstPort: srcPort });
    peer.send({ flags: 'A', seq: IRS + 1, ack: ISS + 1, srcPort });
    const conn = server.accept();
    if (conn === undefined) throw new Error(`connection ${k} not accepted`);
    conns.push(conn);
  }
  return conns;
}

describe('timers of many connections', () => {
  it(`${N} connections' keepalive probes and timeouts fire at their own virtual times, in order`, () => {
    const peer = new TcpPeer({ config: { keepAliveIntervalMs: INTERVAL, keepAliveCount: COUNT, maxConnections: N + 10 }, iss: ISS });
    const conns = openMany(peer, N);
    expect(peer.tcp.nextDeadline()).toBe(Infinity); // established and idle: nothing armed
    const rng = new Prng(7);
    // Distinct even idle times, armed in a shuffled order.
    const order = conns.map((_, k) => k);
    for (let k = order.length - 1; k > 0; k--) {
      const j = rng.nextInt(k + 1);
      [order[k], order[j]] = [order[j]!, order[k]!];
    }
    const idle = new Map<number, number>();
    order.forEach((k, rank) => idle.set(k, 10_000 + 2 * rank));
    for (const k of order) conns[k]!.conn.setKeepAlive(true, idle.get(k)!, peer.now);
    // A third cancelled again, a third postponed by a segment from the peer
    // at t = 5000 (an odd shift: no tie with the untouched ones' first probe).
    const firstProbe = new Map<number, number>();
    for (let k = 0; k < N; k++) {
      if (k % 3 === 0) conns[k]!.conn.setKeepAlive(false, 0, peer.now);
      else if (k % 3 === 2) firstProbe.set(k, 5001 + idle.get(k)!);
      else firstProbe.set(k, idle.get(k)!);
    }
    // The cancelled ones' entries are still queued (lazily): they must not show.
    let earliest = Infinity;
    for (let k = 1; k < N; k++) if (k % 3 !== 0) earliest = Math.min(earliest, idle.get(k)!);
    expect(peer.tcp.nextDeadline()).toBe(earliest);
    peer.advanceTo(5001);
    for (let k = 2; k < N; k += 3) peer.send({ flags: 'A', seq: IRS + 1, ack: ISS + 1, srcPort: FIRST_PEER_PORT + k });
    expect(peer.drain()).toEqual([]);

    // Each live connection: COUNT unanswered probes INTERVAL apart, then RST (ETIMEDOUT).
    const expected: { time: number; port: number; rst: boolean }[] = [];
    for (const [k, t] of firstProbe) {
      for (let p = 0; p < COUNT; p++) expected.push({ time: t + p * INTERVAL, port: FIRST_PEER_PORT + k, rst: false });
      expected.push({ time: t + COUNT * INTERVAL, port: FIRST_PEER_PORT + k, rst: true });
    }
    const byTimeThenPort = (a: { time: number; port: number }, b: { time: number; port: number }): number => a.time - b.time || a.port - b.port;
    expected.sort(byTimeThenPort);
    expect(peer.tcp.nextDeadline()).toBe(expected[0]!.time);

    peer.advanceTo(expected[expected.length - 1]!.time + 1);
    const sent = peer.drain();
    // The stack fired them in time order (each emitted at its deadline, never late)...
    for (let i = 1; i < sent.length; i++) expect(sent[i]!.time).toBeGreaterThanOrEqual(sent[i - 1]!.time);
    // ...and exactly the expected ones.
    const got = sent.map((s) => ({ time: s.time, port: s.dstPort, rst: (s.flags & 0x04) !== 0 })).sort(byTimeThenPort);
    expect(got.length).toBe(expected.length);
    expect(got).toEqual(expected);
    for (let k = 0; k < N; k++) expect(conns[k]!.events).toEqual(k % 3 === 0 ? [] : ['close:ETIMEDOUT']);
    // The cancelled third holds no timer; the rest are freed.
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
    expect(peer.tcp.connectionCount).toBe(Math.ceil(N / 3));
  });

  it('TIME-WAIT of many connections ends each at its own 2*MSL, and a freed connection leaves the queue', () => {
    const timeWaitMs = 60_000;
    const peer = new TcpPeer({ config: { timeWaitMs, maxConnections: 500 }, iss: ISS });
    const n = 300;
    const conns = openMany(peer, n);
    // Connection k closes at t = 7k: our FIN, the peer's ACK and FIN; TIME-WAIT from then.
    for (let k = 0; k < n; k++) {
      peer.advanceTo(7 * k);
      const srcPort = FIRST_PEER_PORT + k;
      conns[k]!.conn.shutdown(peer.now);
      peer.expect({ flags: 'FA', dstPort: srcPort });
      peer.send({ flags: 'FA', seq: IRS + 1, ack: ISS + 2, srcPort });
      peer.expect({ flags: 'A', dstPort: srcPort, ack: IRS + 2 });
      expect(conns[k]!.conn.state).toBe('TIME-WAIT');
    }
    expect(peer.tcp.nextDeadline()).toBe(timeWaitMs);
    for (let k = 0; k < n; k++) {
      // Just before its deadline it is still there; at it, it is gone.
      peer.advanceTo(7 * k + timeWaitMs - 1);
      expect(peer.tcp.connectionCount).toBe(n - k);
      peer.advanceTo(7 * k + timeWaitMs);
      expect(peer.tcp.connectionCount).toBe(n - k - 1);
    }
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
  });
});
