// Segmentation and checksum offload (src/link/offload.ts): TSO super-packets
// out of output(), GRO super-packets into segment arrival, and the cutting
// that the capture and the impairment layer do (src/link/segmentation.ts).
import type { Socket } from '../../src/socket/socket.ts';
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/ip/address.ts';
import { checkIpv4, Ipv4View } from '../../src/ip/ipv4.ts';
import { OFFLOAD_CSUM_PARTIAL, offloadSegmentSize } from '../../src/link/offload.ts';
import { partialTcpChecksum, tcpChecksumConsistent, wirePackets } from '../../src/link/segmentation.ts';
import { ACK, FIN, PSH } from '../../src/tcp/flags.ts';
import { buildTcpPacket, checkTcp, TcpView } from '../../src/tcp/segment.ts';
import { pattern, sha256 } from '../helpers/data.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';
import { VirtualNet } from '../helpers/virtual-net.ts';

const SRC = parseIpv4('10.0.0.1');
const DST = parseIpv4('10.0.0.2');

interface WirePacket {
  packet: Uint8Array;
  offload: number;
}

/** B serves `size` bytes to A over a wire with offload; returns what A got and every packet B put on the wire. */
async function download(size: number, offload: boolean): Promise<{ got: Buffer; fromB: WirePacket[]; vnet: VirtualNet }> {
  const vnet = new VirtualNet({ latencyMs: 1, offload });
  const fromB: WirePacket[] = [];
  vnet.b.link.onSend((packet, _now, word) => fromB.push({ packet: packet.slice(), offload: word }));
  const body = pattern(size, 7);
  vnet.b.net.createServer((s: Socket) => {
    s.end(body);
  }).listen(80);
  const client = vnet.a.net.connect({ host: '10.0.0.2', port: 80 });
  const chunks: Buffer[] = [];
  let ended = false;
  client.on('data', (d: Buffer) => chunks.push(d));
  client.on('end', () => (ended = true));
  await vnet.until(() => ended, 120_000);
  return { got: Buffer.concat(chunks), fromB, vnet };
}

describe('TSO and GRO between two stacks (a wire that carries super-packets whole)', () => {
  it('a 4 MB download arrives byte-exact; runs of full segments leave as super-packets with partial checksums', async () => {
    const size = 4 * 1024 * 1024;
    const { got, fromB, vnet } = await download(size, true);
    expect(got.length).toBe(size);
    expect(sha256(got)).toBe(sha256(pattern(size, 7)));

    const supers = fromB.filter((p) => offloadSegmentSize(p.offload) > 0);
    expect(supers.length).toBeGreaterThan(10);
    for (const { packet, offload } of supers) {
      const segment = offloadSegmentSize(offload);
      const ip = new Ipv4View(packet);
      const tcp = new TcpView(ip.payload);
      expect(checkIpv4(packet)).toBeNull();
      expect(packet.length).toBeLessThanOrEqual(65535);
      // Only whole segments: the kernel cuts it into exactly that many MSS-sized ones.
      expect(tcp.payloadLength % segment).toBe(0);
      expect(tcp.payloadLength / segment).toBeGreaterThanOrEqual(2);
      expect(segment).toBe(1448); // MSS 1460 less the 12-byte timestamp option
      expect(offload & OFFLOAD_CSUM_PARTIAL).not.toBe(0);
      expect(tcpChecksumConsistent(packet, offload)).toBe(true);
    }
    // Counted as segments on the wire, once as super-packets.
    const b = vnet.b.tcp.stats;
    const a = vnet.a.tcp.stats;
    expect(b.superPacketsOut).toBe(supers.length);
    expect(a.superPacketsIn).toBe(supers.length);
    expect(b.segmentsOut).toBeGreaterThan(size / 1448);
    // Far fewer packets than segments crossed.
    expect(fromB.length).toBeLessThan(b.segmentsOut / 5);
    expect(b.retransmittedSegments).toBe(0);
  });

  it('without offload on the link, no packet is larger than the MTU and none carries an offload word', async () => {
    const { got, fromB, vnet } = await download(512 * 1024, false);
    expect(got.length).toBe(512 * 1024);
    expect(fromB.every((p) => p.offload === 0 && p.packet.length <= 1500)).toBe(true);
    expect(vnet.b.tcp.stats.superPacketsOut).toBe(0);
  });

  it('every super-packet, cut as the kernel cuts it, gives valid segments that carry the same bytes in order', async () => {
    const size = 1024 * 1024;
    const { fromB } = await download(size, true);
    let cut = 0;
    for (const { packet, offload } of fromB) {
      if (offloadSegmentSize(offload) === 0) continue;
      const whole = new TcpView(new Ipv4View(packet).payload);
      const pieces = wirePackets(packet, offload);
      expect(pieces.length).toBe(whole.payloadLength / offloadSegmentSize(offload));
      const joined: number[] = [];
      pieces.forEach((piece, k) => {
        const ip = new Ipv4View(piece);
        expect(checkIpv4(piece)).toBeNull();
        expect(checkTcp(ip.payload, ip.src, ip.dst)).toBeNull(); // checksum finished
        const tcp = new TcpView(ip.payload);
        expect(tcp.seq).toBe((whole.seq + k * offloadSegmentSize(offload)) >>> 0);
        expect(tcp.payloadLength).toBe(offloadSegmentSize(offload));
        expect(ip.id).toBe((new Ipv4View(packet).id + k) & 0xffff);
        joined.push(...tcp.payload);
      });
      expect(Buffer.from(joined).equals(Buffer.from(whole.payload))).toBe(true);
      cut++;
    }
    expect(cut).toBeGreaterThan(0);
  });
});

describe('wirePackets (what the capture and the impairment layer see)', () => {
  function superPacket(payloadLength: number, flags: number): Uint8Array {
    const payload = pattern(payloadLength, 3);
    return buildTcpPacket(
      { src: SRC, dst: DST },
      { srcPort: 80, dstPort: 40000, seq: 0xfffff000, ack: 77, flags, window: 1000, payload },
      payloadLength,
      undefined,
      true,
    );
  }

  it('cuts at the segment size, the remainder last; FIN and PSH only on the last piece; sequence numbers wrap', () => {
    const packet = superPacket(2500, ACK | PSH | FIN);
    expect(tcpChecksumConsistent(packet, OFFLOAD_CSUM_PARTIAL)).toBe(true);
    const pieces = wirePackets(packet, OFFLOAD_CSUM_PARTIAL | 1000);
    expect(pieces.map((p) => new TcpView(new Ipv4View(p).payload).payloadLength)).toEqual([1000, 1000, 500]);
    const views = pieces.map((p) => new TcpView(new Ipv4View(p).payload));
    expect(views.map((v) => v.seq)).toEqual([0xfffff000, 0xfffff3e8, 0xfffff7d0]);
    expect(views.map((v) => v.flags)).toEqual([ACK, ACK, ACK | PSH | FIN]);
    for (const p of pieces) {
      const ip = new Ipv4View(p);
      expect(ip.totalLength).toBe(p.length);
      expect(checkTcp(ip.payload, ip.src, ip.dst)).toBeNull();
    }
  });

  it('a partial checksum without segmentation is finished in a copy; the original is untouched', () => {
    const packet = superPacket(300, ACK);
    const before = packet.slice();
    const [finished] = wirePackets(packet, OFFLOAD_CSUM_PARTIAL);
    expect(finished).not.toBe(packet);
    const ip = new Ipv4View(finished!);
    expect(checkTcp(ip.payload, ip.src, ip.dst)).toBeNull();
    expect(packet).toEqual(before);
    expect((packet[36]! << 8) | packet[37]!).toBe(partialTcpChecksum(SRC, DST, 320));
  });

  it('an ordinary packet, or one that is not TCP, passes as it is', () => {
    const packet = superPacket(100, ACK);
    expect(wirePackets(packet, 0)[0]).toBe(packet);
    const udp = packet.slice();
    udp[9] = 17;
    expect(wirePackets(udp, OFFLOAD_CSUM_PARTIAL | 10)[0]).toBe(udp);
  });
});

describe('a super-packet arriving (GRO)', () => {
  it('counts as several full-sized segments of its segment size: the ACK goes at once', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ mss: 1460 });
    // 10 segments of 1000 bytes, handed over as one packet with gso_size 1000
    // and a checksum the kernel left partial (here: simply wrong).
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: pattern(10_000, 5), offload: OFFLOAD_CSUM_PARTIAL | 1000, badChecksum: true });
    peer.expect({ flags: 'A', ack: 11_001, at: 0 });
    // Linux's rcv_mss from gso_size: the peer's segments are 1000 bytes, not 10,000 (or our 1460).
    expect(conn.conn.getInfo().rcvMss).toBe(1000);
    expect(peer.tcp.stats.superPacketsIn).toBe(1);
    expect(peer.tcp.stats.segmentsIn).toBe(2 + 10);
    expect(peer.tcp.stats.badChecksum).toBe(0);
  });

  it('an ordinary 10,000-byte segment is one segment of at most our MSS', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ mss: 1460 });
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: pattern(10_000, 5) });
    peer.expect({ flags: 'A', ack: 11_001, at: 0 });
    expect(conn.conn.getInfo().rcvMss).toBe(1460);
    expect(peer.tcp.stats.superPacketsIn).toBe(0);
  });

  it('a bad checksum on an ordinary packet is still dropped', () => {
    const peer = new TcpPeer();
    peer.establishPassive({ mss: 1460 });
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'x', badChecksum: true });
    peer.expectNothing();
    expect(peer.tcp.stats.badChecksum).toBe(1);
  });
});
