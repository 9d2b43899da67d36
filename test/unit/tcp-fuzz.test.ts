// Hostile input: random bytes and mutated valid segments must never throw,
// and nothing may grow without bound.
import { describe, expect, it } from 'vitest';
import { mulberry32 as prng } from '../../src/link/prng.ts';
import type { TcpConnection } from '../../src/tcp/api.ts';
import { buildTcpPacket } from '../../src/tcp/segment.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

function checkBounds(peer: TcpPeer, maxConnections: number): void {
  expect(peer.tcp.connectionCount).toBeLessThanOrEqual(maxConnections);
  for (const conn of peer.tcp.connections()) {
    const info = conn.getInfo();
    expect(info.sndBufUsed).toBeLessThanOrEqual(info.sndBufSize);
    expect(info.rcvBufUsed + info.oooBytes).toBeLessThanOrEqual(info.rcvBufSize);
    expect(info.rto).toBeLessThanOrEqual(120_000);
  }
  for (const l of peer.tcp.listeners()) {
    const li = l.getInfo();
    expect(li.synQueueLength).toBeLessThanOrEqual(li.synQueueLimit);
    expect(li.acceptQueueLength).toBeLessThanOrEqual(li.acceptQueueLimit);
  }
}

describe('fuzz', () => {
  it.each([1, 2, 3])('random and mutated segments never throw (seed %i)', (seed) => {
    const rand = prng(seed);
    const int = (n: number): number => Math.floor(rand() * n);
    const maxConnections = 100;
    const peer = new TcpPeer({ config: { maxConnections, maxOooRanges: 8, rcvBuf: 4096, sndBuf: 4096 } });
    const { server, conn } = peer.establishPassive({ listen: { backlog: 8, synBacklog: 64 } });
    const apps: TcpConnection[] = [conn.conn];
    const active = peer.connect({ localPort: 50000, remotePort: 7 });
    apps.push(active.conn);

    // Valid segments around the live sequence numbers, to be mutated.
    const template = (): Uint8Array => {
      const target = apps[int(apps.length)]!;
      const info = target.getInfo();
      const flags = [0x10, 0x18, 0x10, 0x18, 0x10, 0x18, 0x11, 0x02, 0x12, 0x01, 0x03, 0x3f, 0x04, 0x14][int(int(8) === 0 ? 14 : 12)]!;
      const payload = new Uint8Array(int(3) === 0 ? 0 : int(1500));
      const packet = buildTcpPacket(
        { src: peer.peerAddress, dst: peer.ourAddress },
        {
          srcPort: target.remotePort,
          dstPort: target.localPort,
          seq: (info.rcvNxt + int(9000) - 3000) >>> 0,
          ack: (info.sndUna + int(9000) - 3000) >>> 0,
          flags,
          window: int(65536),
          ...(int(4) === 0 ? { options: { mss: int(70000) & 0xffff, windowScale: int(20), sackPermitted: true } } : {}),
          payload,
        },
      );
      return packet.subarray(20);
    };

    // Keep live connections around so that most segments reach a state
    // machine rather than the closed-port path.
    let nextPort = 20000;
    const refill = (): void => {
      for (let a = server.accept(); a !== undefined; a = server.accept()) apps.push(a.conn);
      for (let k = apps.length - 1; k >= 0; k--) if (apps[k]!.state === 'CLOSED') apps.splice(k, 1);
      while (apps.filter((a) => a.state === 'ESTABLISHED').length < 3 && peer.tcp.connectionCount < maxConnections - 1) {
        const port = nextPort++;
        const irs = int(1 << 30);
        peer.send({ flags: 'S', seq: irs, srcPort: port, options: { mss: 536 + int(1000) } });
        peer.send({ flags: 'A', seq: irs + 1, ack: peer.iss + 1, srcPort: port });
        for (let a = server.accept(); a !== undefined; a = server.accept()) apps.push(a.conn);
        if (apps.at(-1)?.remotePort !== port) break;
      }
    };

    for (let i = 0; i < 20_000; i++) {
      if (i % 50 === 0) refill();
      // Without a live connection, everything is noise.
      const r = apps.length === 0 ? 0 : int(100);
      if (r < 15) {
        // Pure noise, checksum fixed up half of the time so it reaches the parser's later checks.
        const bytes = Uint8Array.from({ length: int(80) }, () => int(256));
        peer.sendTcpBytes(bytes, { fixChecksum: int(2) === 0 });
      } else if (r < 75) {
        const seg = template().slice();
        const flips = 1 + int(4);
        for (let k = 0; k < flips; k++) seg[int(Math.min(seg.length, 40))] = int(256);
        peer.sendTcpBytes(seg, { fixChecksum: int(10) !== 0 });
      } else if (r < 85) {
        // Unmutated but out of place: sequence numbers anywhere near the window.
        peer.sendTcpBytes(template());
      } else if (r < 90) {
        peer.advance(int(3) === 0 ? int(200_000) : int(500));
      } else if (r < 92) {
        // New connections from many ports (bounded by the queues and the table).
        peer.send({ flags: 'S', seq: int(1 << 30), srcPort: 1 + int(65535), options: { mss: int(65536) } });
        const accepted = server.accept();
        if (accepted !== undefined) apps.push(accepted.conn);
      } else {
        const target = apps[int(apps.length)]!;
        const action = int(6);
        try {
          if (action === 0) target.write(new Uint8Array(int(5000)), peer.now);
          if (action === 1) target.read(new Uint8Array(int(5000)), peer.now);
          if (action === 2) target.shutdown(peer.now);
          if (action === 3 && int(5) === 0) target.abort(peer.now);
          if (action === 4) target.setNoDelay(int(2) === 0, peer.now);
          if (action === 5) target.setCork(int(2) === 0, peer.now);
        } catch (e) {
          // write after shutdown/reset is the only exception the API allows.
          expect((e as { code?: string }).code).toBe('EPIPE');
        }
      }
      peer.drain();
      if (i % 1000 === 0) checkBounds(peer, maxConnections);
    }
    checkBounds(peer, maxConnections);
    // Every timer eventually runs out: after a long quiet period, only what
    // is still established (and idle) remains, and no deadline is in the past.
    peer.advance(10_000_000);
    expect(peer.tcp.nextDeadline()).toBeGreaterThan(peer.now);
    for (const c of peer.tcp.connections()) expect(['ESTABLISHED', 'CLOSE-WAIT', 'FIN-WAIT-2']).toContain(c.state);
    expect(peer.tcp.stats.malformed + peer.tcp.stats.badChecksum).toBeGreaterThan(1000);
    // Most segments did reach a connection's state machine.
    expect(peer.tcp.stats.noConnection).toBeLessThan(peer.tcp.stats.segmentsIn / 4);
  });
});
