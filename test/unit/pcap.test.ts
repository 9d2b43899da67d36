import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { internetChecksum } from '../../src/ip/checksum.ts';
import { buildEchoReply } from '../../src/ip/icmp.ts';
import { writeIpv4Header } from '../../src/ip/ipv4-header.ts';
import { Ipv4View } from '../../src/ip/ipv4.ts';
import { createMemoryLinkPair } from '../../src/link/memory-link.ts';
import { VirtualScheduler } from '../../src/link/virtual-scheduler.ts';
import { CaptureLink } from '../../src/pcap/capture-link.ts';
import { PcapWriter } from '../../src/pcap/pcap-writer.ts';
import { PEER, US, hasTshark } from '../helpers/packets.ts';

function echoRequest(seq: number, dataLength = 8): Uint8Array {
  const buf = new Uint8Array(28 + dataLength);
  writeIpv4Header(buf, { src: PEER, dst: US, protocol: 1, totalLength: buf.length });
  buf.set([8, 0, 0, 0, 0x11, 0x22, seq >>> 8, seq & 0xff], 20);
  for (let i = 0; i < dataLength; i++) buf[28 + i] = i;
  const sum = internetChecksum(buf.subarray(20));
  buf[22] = sum >>> 8;
  buf[23] = sum & 0xff;
  return buf;
}

/** A sink that keeps every chunk; `stall` makes it never finish a write (a stuck reader). */
class Sink extends Writable {
  chunks: Buffer[] = [];
  constructor(private readonly stall = false) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    if (!this.stall) done();
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tuntcp-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PcapWriter', () => {
  it('writes the classic global header: magic a1b2c3d4, v2.4, snaplen 65535, LINKTYPE_RAW', async () => {
    const file = join(dir, 'empty.pcap');
    const w = PcapWriter.toFile(file);
    await w.close();
    const b = readFileSync(file);
    expect(b.length).toBe(24);
    expect(b.toString('hex')).toBe('d4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '65000000');
  });

  it('writes one record per packet with microsecond timestamps and lengths', async () => {
    const sink = new Sink();
    const w = new PcapWriter(sink);
    const p1 = echoRequest(1);
    const p2 = echoRequest(2, 100);
    w.write(p1, 1_700_000_000_123.456);
    p1.fill(0); // the writer copied it
    w.write(p2, 1_700_000_001_000);
    await w.close();
    const b = sink.bytes();
    expect(b.length).toBe(24 + 16 + 36 + 16 + 128);
    expect(b.readUInt32LE(24)).toBe(1_700_000_000);
    expect(b.readUInt32LE(28)).toBe(123_456);
    expect(b.readUInt32LE(32)).toBe(36);
    expect(b.readUInt32LE(36)).toBe(36);
    expect(b.subarray(40, 76)).toEqual(Buffer.from(echoRequest(1)));
    expect(b.readUInt32LE(76)).toBe(1_700_000_001);
    expect(b.readUInt32LE(80)).toBe(0);
    expect(b.readUInt32LE(84)).toBe(128);
    expect(b.subarray(92)).toEqual(Buffer.from(p2));
    expect(w.stats).toEqual({ recordsWritten: 2, recordsDropped: 0 });
  });

  it('drops and counts records while the stream is not draining, instead of buffering without bound', async () => {
    const sink = new Sink(true);
    const w = new PcapWriter(sink, { maxBuffered: 1000 });
    const p = echoRequest(1, 200); // 228 bytes + 16 of record header
    for (let i = 0; i < 100; i++) w.write(p, 0);
    // 24 (global header) + 4 records of 244 bytes crosses 1000 on the 5th.
    expect(w.stats.recordsWritten).toBe(5);
    expect(w.stats.recordsDropped).toBe(95);
    expect(sink.writableLength).toBeLessThan(1000 + 300);
  });

  it('stops writing after a stream error (reader went away) without throwing', async () => {
    const sink = new Writable({
      write(_c, _e, done) {
        done(Object.assign(new Error('EPIPE'), { code: 'EPIPE' }));
      },
    });
    const w = new PcapWriter(sink);
    await new Promise((r) => setImmediate(r));
    expect(w.lastError?.message).toBe('EPIPE');
    w.write(echoRequest(1), 0);
    expect(w.stats.recordsWritten).toBe(0);
    await w.close();
  });
});

describe('CaptureLink', () => {
  it('records what it sends and what it receives, and passes both through', async () => {
    const scheduler = new VirtualScheduler();
    const [a, b] = createMemoryLinkPair({ scheduler, latencyMs: 1 });
    const sink = new Sink();
    const writer = new PcapWriter(sink);
    let wall = 1_000_000;
    const link = new CaptureLink(a, writer, () => wall);
    const received: Uint8Array[] = [];
    link.onPackets((batch) => batch.forEach((p) => received.push(p.slice())));
    const delivered: Uint8Array[] = [];
    b.onPackets((batch) => batch.forEach((p) => delivered.push(p.slice())));

    const req = echoRequest(7);
    link.send(req);
    scheduler.runUntilIdle();
    wall += 5;
    const reply = buildEchoReply(new Ipv4View(req), US);
    b.send(reply);
    scheduler.runUntilIdle();

    expect(delivered).toEqual([req]);
    expect(received).toEqual([reply]);
    await writer.close();
    const bytes = sink.bytes();
    expect(bytes.subarray(40, 40 + req.length)).toEqual(Buffer.from(req));
    const second = 40 + req.length;
    // 1_000_005 ms is 1000 s + 5000 us.
    expect(bytes.readUInt32LE(second)).toBe(1000);
    expect(bytes.readUInt32LE(second + 4)).toBe(5000);
    expect(bytes.subarray(second + 16)).toEqual(Buffer.from(reply));
    expect(writer.stats.recordsWritten).toBe(2);
  });
});

describe.skipIf(!hasTshark())('tshark reads our capture', () => {
  it('shows addresses and ICMP types of request and reply', async () => {
    const file = join(dir, 'ping.pcap');
    const w = PcapWriter.toFile(file);
    const req = echoRequest(1);
    w.write(req, Date.UTC(2024, 0, 1));
    w.write(buildEchoReply(new Ipv4View(req), US), Date.UTC(2024, 0, 1) + 0.5);
    await w.close();
    const out = execFileSync(
      'tshark',
      ['-r', file, '-T', 'fields', '-E', 'separator=,', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type', '-e', 'frame.time_epoch'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const rows = out.trim().split('\n').map((l) => l.split(','));
    expect(rows.map((r) => r.slice(0, 3))).toEqual([
      ['10.0.0.1', '10.0.0.2', '8'],
      ['10.0.0.2', '10.0.0.1', '0'],
    ]);
    expect(Number(rows[1]![3]) - Number(rows[0]![3])).toBeCloseTo(0.0005, 6);
  });
});
