/**
 * Classic libpcap files (the format every tool reads, wiki.wireshark.org
 * "Development/LibpcapFileFormat"): a 24-byte global header, then per packet
 * a 16-byte record header and the bytes. Link type 101 (LINKTYPE_RAW): the
 * packets are bare IP, exactly what a TUN device carries, so no fake
 * Ethernet header is needed.
 *
 * Fields are written little-endian; readers tell the byte order from how the
 * magic 0xa1b2c3d4 reads back (it also says: microsecond timestamps).
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

export const PCAP_MAGIC = 0xa1b2c3d4;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const PCAP_SNAPLEN = 65535;
export const LINKTYPE_RAW = 101;
export const PCAP_GLOBAL_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;

/**
 * Above this many bytes waiting in the stream, records are dropped and
 * counted: a slow disk or a stalled `| wireshark` must never make the stack's
 * memory grow without bound.
 */
export const DEFAULT_PCAP_MAX_BUFFERED = 16 * 1024 * 1024;

export interface PcapStats {
  recordsWritten: number;
  recordsDropped: number;
}

export interface PcapWriterOptions {
  maxBuffered?: number;
  /** Close the stream on close() (false for process.stdout). Default true. */
  endStream?: boolean;
}

export class PcapWriter {
  readonly stats: PcapStats = { recordsWritten: 0, recordsDropped: 0 };
  private readonly maxBuffered: number;
  private readonly endStream: boolean;
  private closed = false;
  private closing: Promise<void> | null = null;
  private error: Error | null = null;

  constructor(
    private readonly stream: Writable,
    options: PcapWriterOptions = {},
  ) {
    this.maxBuffered = options.maxBuffered ?? DEFAULT_PCAP_MAX_BUFFERED;
    this.endStream = options.endStream ?? true;
    // A closed pipe (the reader quit) must not crash the stack: stop writing.
    stream.on('error', (err: Error) => {
      this.error = err;
      this.closed = true;
    });
    const header = Buffer.alloc(PCAP_GLOBAL_HEADER_LENGTH);
    header.writeUInt32LE(PCAP_MAGIC, 0);
    header.writeUInt16LE(PCAP_VERSION_MAJOR, 4);
    header.writeUInt16LE(PCAP_VERSION_MINOR, 6);
    header.writeInt32LE(0, 8); // thiszone: timestamps are UTC
    header.writeUInt32LE(0, 12); // sigfigs
    header.writeUInt32LE(PCAP_SNAPLEN, 16);
    header.writeUInt32LE(LINKTYPE_RAW, 20);
    stream.write(header);
  }

  static toFile(path: string, options: Omit<PcapWriterOptions, 'endStream'> = {}): PcapWriter {
    return new PcapWriter(createWriteStream(path), { ...options, endStream: true });
  }

  /** For `--pcap -`: `tuntcp ... --pcap - | wireshark -k -i -`. */
  static toStdout(options: Omit<PcapWriterOptions, 'endStream'> = {}): PcapWriter {
    return new PcapWriter(process.stdout, { ...options, endStream: false });
  }

  /** The stream error that stopped the capture, if any. */
  get lastError(): Error | null {
    return this.error;
  }

  /**
   * Appends one record; `packet` is copied, so the caller may reuse it.
   * `timeMs` is wall-clock milliseconds since the Unix epoch (fractions kept
   * to the microsecond).
   */
  write(packet: Uint8Array, timeMs: number): void {
    if (this.closed) return;
    if (this.stream.writableLength > this.maxBuffered) {
      this.stats.recordsDropped++;
      return;
    }
    const captured = Math.min(packet.length, PCAP_SNAPLEN);
    const record = Buffer.allocUnsafe(PCAP_RECORD_HEADER_LENGTH + captured);
    const totalUs = Math.round(timeMs * 1000);
    const seconds = Math.floor(totalUs / 1e6);
    record.writeUInt32LE(seconds >>> 0, 0);
    record.writeUInt32LE(totalUs - seconds * 1e6, 4);
    record.writeUInt32LE(captured, 8);
    record.writeUInt32LE(packet.length, 12);
    record.set(packet.subarray(0, captured), PCAP_RECORD_HEADER_LENGTH);
    this.stream.write(record);
    this.stats.recordsWritten++;
  }

  /** Flushes what was written; resolves once the file is complete. */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    const wasClosed = this.closed;
    this.closed = true;
    const stream = this.stream;
    this.closing = new Promise<void>((resolve) => {
      if (wasClosed || stream.destroyed) {
        resolve();
      } else if (this.endStream) {
        stream.once('error', () => resolve());
        stream.end(() => resolve());
      } else {
        // Do not end process.stdout; just wait until our bytes left.
        stream.write(new Uint8Array(0), () => resolve());
      }
    });
    return this.closing;
  }
}
