// Two of our stacks over a long fat pipe (RFC 7323 §1.1): with window
// scaling, timestamps and SACK negotiated between them, a 4 MiB receive
// buffer fills the path; without scaling the 64 KiB window caps it.
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/ip/address.ts';
import { Ipv4View } from '../../src/ip/ipv4.ts';
import type { TcpConnection } from '../../src/tcp/api.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { Tcp } from '../../src/tcp/tcp.ts';
import { assertSameBytes } from '../helpers/tcp-peer.ts';

interface Packet {
  at: number;
  order: number;
  to: Tcp;
  bytes: Uint8Array;
}

function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Sends `size` bytes from A to B over a link with `oneWayMs` delay; returns the virtual time taken and B's view. */
function transfer(size: number, oneWayMs: number, config: Partial<TcpConfig>, lossEvery = 0) {
  let now = 0;
  let order = 0;
  let sent = 0;
  let queue: Packet[] = [];
  const addrA = parseIpv4('10.0.0.1');
  const addrB = parseIpv4('10.0.0.2');
  const wire = (to: Tcp) => (bytes: Uint8Array) => {
    sent++;
    if (lossEvery > 0 && to === b && sent % lossEvery === 0) return;
    queue.push({ at: now + oneWayMs, order: order++, to, bytes });
  };
  const windows: number[] = [];
  const a: Tcp = new Tcp({ localAddress: addrA, mtu: 1500, send: (p) => wire(b)(p), config, random: () => 0.25 });
  const b: Tcp = new Tcp({
    localAddress: addrB,
    mtu: 1500,
    config,
    random: () => 0.75,
    send: (p) => {
      windows.push((p[20 + 14]! << 8) | p[20 + 15]!);
      wire(a)(p);
    },
  });
  const data = pattern(size);
  const received = new Uint8Array(size);
  let got = 0;
  let server: TcpConnection | undefined;
  const listener = b.listen({ address: 0, port: 9 });
  listener.onAcceptable = () => {
    server = listener.accept();
    const buf = new Uint8Array(256 * 1024);
    server!.events = {
      onEstablished() {},
      onReadable() {
        for (;;) {
          const n = server!.read(buf, now);
          if (n === 0) break;
          received.set(buf.subarray(0, n), got);
          got += n;
        }
      },
      onWritable() {},
      onEnd() {},
      onClose() {},
    };
  };
  const client = a.connect({ remoteAddress: addrB, remotePort: 9 }, now);
  let written = 0;
  const pump = (): void => {
    while (written < size) {
      const n = client.write(data.subarray(written), now);
      if (n === 0) break;
      written += n;
    }
  };
  client.events = { onEstablished: pump, onReadable() {}, onWritable: pump, onEnd() {}, onClose() {} };
  while (got < size && now < 120_000) {
    const next = Math.min(queue.length > 0 ? Math.min(...queue.map((p) => p.at)) : Infinity, a.nextDeadline(), b.nextDeadline());
    if (next === Infinity) break;
    now = Math.max(now, next);
    const due = queue.filter((p) => p.at <= now).sort((x, y) => x.at - y.at || x.order - y.order);
    queue = queue.filter((p) => p.at > now);
    for (const p of due) p.to.input(new Ipv4View(p.bytes), now);
    a.poll(now);
    b.poll(now);
  }
  assertSameBytes(received.subarray(0, got), data.subarray(0, got));
  return { time: now, got, info: server?.getInfo(), clientInfo: client.getInfo(), windows, a, b };
}

describe('a long fat pipe (100 ms RTT)', () => {
  const size = 4 << 20;

  it('with 4 MiB buffers, scaled windows (shift 7) let 4 MiB through in well under a second of transfer', () => {
    const r = transfer(size, 50, { rcvBuf: size, sndBuf: size });
    expect(r.got).toBe(size);
    expect(r.info).toMatchObject({ windowScaling: true, rcvWscale: 7, sndWscale: 7, timestamps: true, sackPermitted: true });
    // The largest window B advertised, decoded: megabytes, not 64 KiB.
    expect(Math.max(...r.windows.slice(1)) << 7).toBeGreaterThan(3 << 20);
    // Slow start from 10 segments needs ~9 round trips to reach 4 MiB; at
    // 64 KiB per round trip the same transfer would take 64 of them.
    expect(r.time).toBeLessThan(1500);
    expect(r.clientInfo.srtt).toBeGreaterThanOrEqual(100);
  });

  it('without window scaling the 64 KiB window caps it at one window per round trip', () => {
    const r = transfer(size, 50, { rcvBuf: size, sndBuf: size, windowScaling: 0 });
    expect(r.got).toBe(size);
    expect(r.info).toMatchObject({ windowScaling: false, rcvWscale: 0 });
    expect(Math.max(...r.windows)).toBeLessThanOrEqual(65535);
    expect(r.time).toBeGreaterThan((size / 65535) * 100 * 0.9);
  });

  it('with some loss, SACK and timestamps between two of our stacks still deliver every byte', () => {
    const r = transfer(1 << 20, 20, { rcvBuf: 1 << 20, sndBuf: 1 << 20 }, 97);
    expect(r.got).toBe(1 << 20);
    expect(r.a.stats.retransmittedSegments).toBeGreaterThan(0);
    expect(r.a.stats.pawsRejected + r.b.stats.pawsRejected).toBe(0);
  });
});
