import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/ip/address.ts';
import { buildEchoReply, checkIcmp } from '../../src/ip/icmp.ts';
import { Ipv4View, checkIpv4 } from '../../src/ip/ipv4.ts';
import { Prng } from '../../src/link/prng.ts';
import { Stack } from '../../src/stack/stack.ts';
import { totalIpDropped } from '../../src/stack/stats.ts';
import type { TransportLayer } from '../../src/stack/transport.ts';
import { PEER, US, icmpMessage, ipPacket } from '../helpers/packets.ts';

const echoRequest = ipPacket(1, icmpMessage(8, 0, new Uint8Array([0x12, 0x34, 0, 7, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])));

function setup(): { stack: Stack; sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  const stack = new Stack({ address: US }, (p) => sent.push(p.slice()));
  return { stack, sent };
}

class RecordingTransport implements TransportLayer {
  readonly received: { src: number; payload: number[]; now: number }[] = [];
  deadline = Infinity;
  polls: number[] = [];
  constructor(readonly protocol: number) {}
  input(packet: Ipv4View, now: number): void {
    this.received.push({ src: packet.src, payload: Array.from(packet.payload), now });
  }
  poll(now: number): void {
    this.polls.push(now);
  }
  nextDeadline(): number {
    return this.deadline;
  }
}

describe('Stack: ICMP echo', () => {
  it('answers an echo request with the echo reply, through transmit', () => {
    const { stack, sent } = setup();
    stack.input(echoRequest, 5);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toEqual(buildEchoReply(new Ipv4View(echoRequest), US));
    const reply = new Ipv4View(sent[0]!);
    expect(checkIpv4(sent[0]!)).toBeNull();
    expect([reply.src, reply.dst, reply.payload[0]]).toEqual([US, PEER, 0]);
    expect(checkIcmp(reply.payload)).toBeNull();
    expect(stack.stats).toMatchObject({
      ipPacketsIn: 1,
      ipPacketsOut: 1,
      ipDelivered: 1,
      icmpIn: 1,
      icmpEchoRequests: 1,
      icmpEchoRepliesSent: 1,
      icmpDropped: 0,
    });
  });

  it('drops an ICMP message with a bad checksum and counts it', () => {
    const { stack, sent } = setup();
    const bad = echoRequest.slice();
    bad[30]! ^= 0xff;
    stack.input(bad, 0);
    expect(sent).toEqual([]);
    expect(stack.stats.icmpDropped).toBe(1);
    expect(stack.stats.icmpEchoRequests).toBe(0);
  });

  it('ignores echo replies and ICMP errors without answering', () => {
    const { stack, sent } = setup();
    stack.input(ipPacket(1, icmpMessage(0, 0, new Uint8Array(4))), 0);
    stack.input(ipPacket(1, icmpMessage(3, 3, new Uint8Array(32))), 0);
    expect(sent).toEqual([]);
    expect(stack.stats.icmpIgnored).toBe(2);
    expect(stack.stats.icmpProtocolUnreachableSent).toBe(0);
  });

  it('does not answer an echo request from a broadcast or multicast source', () => {
    const { stack, sent } = setup();
    const msg = icmpMessage(8, 0, new Uint8Array(4));
    stack.input(ipPacket(1, msg, parseIpv4('255.255.255.255')), 0);
    stack.input(ipPacket(1, msg, parseIpv4('224.0.0.251')), 0);
    expect(sent).toEqual([]);
    expect(stack.stats.icmpEchoRequests).toBe(2);
    expect(stack.stats.icmpEchoRepliesSent).toBe(0);
  });
});

describe('Stack: protocol unreachable', () => {
  it.each([17, 99])('answers protocol %i with ICMP type 3 code 2 quoting the datagram', (protocol) => {
    const { stack, sent } = setup();
    const pkt = ipPacket(protocol, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    stack.input(pkt, 0);
    expect(sent).toHaveLength(1);
    const err = new Ipv4View(sent[0]!);
    expect(checkIpv4(sent[0]!)).toBeNull();
    expect([err.src, err.dst, err.protocol]).toEqual([US, PEER, 1]);
    expect([err.payload[0], err.payload[1]]).toEqual([3, 2]);
    expect(checkIcmp(err.payload)).toBeNull();
    expect(err.payload.subarray(8)).toEqual(pkt);
    expect(stack.stats.ipDropped['no-transport']).toBe(1);
    expect(stack.stats.icmpProtocolUnreachableSent).toBe(1);
    expect(stack.stats.ipPacketsOut).toBe(1);
  });

  it('sends no unreachable to a multicast source', () => {
    const { stack, sent } = setup();
    stack.input(ipPacket(17, new Uint8Array(8), parseIpv4('224.0.0.1')), 0);
    expect(sent).toEqual([]);
    expect(stack.stats.ipDropped['no-transport']).toBe(1);
    expect(stack.stats.icmpProtocolUnreachableSent).toBe(0);
  });
});

describe('Stack: filtering and demux', () => {
  it('drops packets not addressed to us, silently', () => {
    const { stack, sent } = setup();
    stack.input(ipPacket(1, icmpMessage(8, 0, new Uint8Array(4)), PEER, parseIpv4('10.0.0.3')), 0);
    stack.input(ipPacket(17, new Uint8Array(8), PEER, parseIpv4('255.255.255.255')), 0);
    stack.input(ipPacket(6, new Uint8Array(20), PEER, parseIpv4('224.0.0.22')), 0);
    expect(sent).toEqual([]);
    expect(stack.stats.ipDropped['not-for-us']).toBe(3);
    expect(stack.stats.ipDelivered).toBe(0);
  });

  it('counts IPv6 separately from IPv4 drops', () => {
    const { stack, sent } = setup();
    // An MLDv2 report as a fresh TUN sends it: version 6, hop-by-hop header.
    const ipv6 = new Uint8Array(76);
    ipv6.set([0x60, 0, 0, 0, 0, 0x24, 0x00, 0x01]);
    stack.input(ipv6, 0);
    stack.input(ipv6.subarray(0, 1), 0);
    expect(sent).toEqual([]);
    expect(stack.stats.ipv6Dropped).toBe(2);
    expect(totalIpDropped(stack.stats)).toBe(0);
  });

  it('hands TCP packets to the transport registered for protocol 6, with now', () => {
    const { stack, sent } = setup();
    const tcp = new RecordingTransport(6);
    stack.addTransport(tcp);
    const segment = new Uint8Array(24).map((_, i) => i);
    stack.input(ipPacket(6, segment), 123.5);
    expect(tcp.received).toEqual([{ src: PEER, payload: Array.from(segment), now: 123.5 }]);
    expect(sent).toEqual([]);
    expect(stack.stats.ipDelivered).toBe(1);
    // UDP still gets an unreachable: only 6 is registered.
    stack.input(ipPacket(17, new Uint8Array(8)), 0);
    expect(sent).toHaveLength(1);
    expect(tcp.received).toHaveLength(1);
  });

  it('refuses a second transport for the same protocol, and one for ICMP', () => {
    const { stack } = setup();
    stack.addTransport(new RecordingTransport(6));
    expect(() => stack.addTransport(new RecordingTransport(6))).toThrow(/already registered/);
    expect(() => stack.addTransport(new RecordingTransport(1))).toThrow(/ICMP/);
    expect(() => stack.addTransport(new RecordingTransport(256))).toThrow(RangeError);
  });

  it('polls every transport and reports the earliest deadline', () => {
    const { stack } = setup();
    expect(stack.nextDeadline()).toBe(Infinity);
    const a = new RecordingTransport(6);
    const b = new RecordingTransport(17);
    stack.addTransport(a);
    stack.addTransport(b);
    expect(stack.nextDeadline()).toBe(Infinity);
    a.deadline = 300;
    b.deadline = 200;
    expect(stack.nextDeadline()).toBe(200);
    stack.poll(200);
    expect(a.polls).toEqual([200]);
    expect(b.polls).toEqual([200]);
  });

  it('counts packets transports send through stack.send', () => {
    const { stack, sent } = setup();
    const out = ipPacket(6, new Uint8Array(20), US, PEER);
    stack.send(out);
    expect(sent).toEqual([out]);
    expect(stack.stats.ipPacketsOut).toBe(1);
  });

  it('survives a transmit target that loops straight back into input', () => {
    const seen: number[] = [];
    const tcp: TransportLayer = {
      protocol: 6,
      input(packet) {
        const before = packet.src;
        // Re-entrant input while this view is in use must not clobber it.
        stack.input(echoRequest, 0);
        seen.push(before, packet.src, packet.payload.length);
      },
      poll() {},
      nextDeadline: () => Infinity,
    };
    const stack = new Stack({ address: US }, () => {});
    stack.addTransport(tcp);
    stack.input(ipPacket(6, new Uint8Array(20), parseIpv4('10.9.9.9')), 0);
    expect(seen).toEqual([parseIpv4('10.9.9.9'), parseIpv4('10.9.9.9'), 20]);
    expect(stack.stats.icmpEchoRepliesSent).toBe(1);
  });
});

describe('Stack: fuzz', () => {
  it('never throws on random bytes or mangled real packets, and counts every packet', () => {
    const { stack } = setup();
    const tcp = new RecordingTransport(6);
    stack.addTransport(tcp);
    const rng = new Prng(2024);
    const seeds = [echoRequest, ipPacket(6, new Uint8Array(40).fill(7)), ipPacket(17, new Uint8Array(12))];
    let n = 0;
    for (let i = 0; i < 3000; i++) {
      const len = rng.nextInt(120);
      const random = new Uint8Array(len).map(() => rng.nextInt(256));
      // Bias some random buffers toward IPv4 so they get past the first checks.
      if (len > 0 && i % 2 === 0) random[0] = 0x40 | rng.nextInt(16);
      stack.input(random, i);
      n++;
      const base = seeds[i % seeds.length]!;
      stack.input(base.subarray(0, rng.nextInt(base.length + 1)), i);
      n++;
      const flipped = base.slice();
      flipped[rng.nextInt(flipped.length)]! ^= 1 << rng.nextInt(8);
      stack.input(flipped, i);
      n++;
    }
    const s = stack.stats;
    expect(s.ipPacketsIn).toBe(n);
    // Everything that came in was either dropped with a reason, IPv6, or delivered.
    expect(totalIpDropped(s) + s.ipv6Dropped + s.ipDelivered).toBe(n);
    expect(s.ipDropped.checksum).toBeGreaterThan(0);
    expect(s.ipDropped.short).toBeGreaterThan(0);
    expect(s.ipDropped['total-length']).toBeGreaterThan(0);
  });
});
