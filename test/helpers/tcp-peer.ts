/**
 * A scripted TCP peer around one `Tcp` instance, in virtual time: tests read
 * as packet exchanges, in the spirit of packetdrill and of smoltcp's socket
 * tests.
 *
 *   const peer = new TcpPeer();
 *   const server = peer.listen();
 *   peer.send({ flags: 'S', seq: 1000, win: 65535, options: { mss: 1460 } });
 *   peer.expect({ flags: 'SA', seq: 5000, ack: 1001 });
 *   peer.send({ flags: 'A', seq: 1001, ack: 5001 });
 *   const conn = server.accept();
 *
 * The peer owns the clock (`now`); every segment the stack emits is parsed
 * and queued with its emission time until a test `expect`s it. Traces use
 * packetdrill's arrows: `<` is a segment into the stack, `>` one out of it.
 */
import type { Ipv4Address } from '../../src/ip/address.ts';
import { formatIpv4, parseIpv4 } from '../../src/ip/address.ts';
import { checkIpv4, Ipv4View } from '../../src/ip/ipv4.ts';
import { transportChecksum } from '../../src/ip/checksum.ts';
import { IP_PROTOCOL_TCP, writeIpv4Header } from '../../src/ip/ipv4-header.ts';
import type { StackError } from '../../src/errors.ts';
import type { ConnectionEvents, ConnectOptions, ListenOptions, TcpConnection, TcpListener } from '../../src/tcp/api.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';
import { ACK, formatFlags, parseFlags } from '../../src/tcp/flags.ts';
import type { TcpOptions } from '../../src/tcp/options.ts';
import { buildTcpPacket, checkTcp, TcpView } from '../../src/tcp/segment.ts';
import { Tcp } from '../../src/tcp/tcp.ts';

/** A segment the peer sends into the stack. */
export interface PeerSegment {
  /** Letters S F R P A U E C ("SA", "PA", "FA", "R"); '.' also means ACK. */
  flags: string;
  seq: number;
  /** Required when the flags include A. */
  ack?: number;
  /** Raw window field; default 65535. */
  win?: number;
  options?: TcpOptions;
  data?: string | Uint8Array;
  srcPort?: number;
  dstPort?: number;
  /** Source address (dotted quad); default the peer's. */
  src?: string;
  /** Corrupts the checksum. */
  badChecksum?: boolean;
  /** The offload word the link delivers it with (src/link/offload.ts): a GRO super-packet, a checksum the kernel vouched for. */
  offload?: number;
}

/** What a test expects of the next segment the stack sent; omitted fields are not checked. */
export interface SegmentExpectation {
  flags?: string;
  seq?: number;
  ack?: number;
  win?: number;
  /** Payload length. */
  len?: number;
  data?: string | Uint8Array;
  /** Compared as a whole: `{}` means "no options". */
  options?: TcpOptions;
  srcPort?: number;
  dstPort?: number;
  /** Emission time (virtual ms). */
  at?: number;
}

/** A segment the stack emitted, parsed. */
export interface Emitted {
  time: number;
  src: Ipv4Address;
  dst: Ipv4Address;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  win: number;
  options: TcpOptions;
  payload: Uint8Array;
  /** packetdrill-like text. */
  text: string;
}

export interface TcpPeerOptions {
  config?: Partial<TcpConfig>;
  mtu?: number;
  /** The ISN our stack uses for every connection (changeable via `peer.iss`). Default 5000. */
  iss?: number;
  ourAddress?: string;
  peerAddress?: string;
  /** Our listening / connecting port; default 80. */
  ourPort?: number;
  peerPort?: number;
  random?: () => number;
  /** Offset of our TSval clock (RFC 7323): TSval = floor(now) + tsOffset. Default 0, so TSval reads as virtual ms. */
  tsOffset?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytesOf(data: string | Uint8Array | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return typeof data === 'string' ? encoder.encode(data) : data;
}

export function formatOptions(o: TcpOptions): string {
  const parts: string[] = [];
  if (o.mss !== undefined) parts.push(`mss ${o.mss}`);
  if (o.sackPermitted === true) parts.push('sackOK');
  if (o.timestamps !== undefined) parts.push(`TS val ${o.timestamps.value} ecr ${o.timestamps.echo}`);
  if (o.windowScale !== undefined) parts.push(`wscale ${o.windowScale}`);
  if (o.sackBlocks !== undefined) parts.push(`sack ${o.sackBlocks.map((b) => `${b.left}:${b.right}`).join(' ')}`);
  return parts.length === 0 ? '' : ` <${parts.join(',')}>`;
}

function formatSegment(flags: number, seq: number, len: number, ack: number, win: number, options: TcpOptions): string {
  const ackText = (flags & ACK) !== 0 ? ` ack ${ack}` : '';
  return `${formatFlags(flags)} ${seq}:${(seq + len) >>> 0}(${len})${ackText} win ${win}${formatOptions(options)}`;
}

function formatExpectation(e: SegmentExpectation): string {
  const q = (v: number | undefined): string => (v === undefined ? '*' : String(v));
  const len = e.len ?? (e.data !== undefined ? bytesOf(e.data).length : undefined);
  const end = e.seq !== undefined && len !== undefined ? String((e.seq + len) >>> 0) : '*';
  const ackText = e.ack !== undefined ? ` ack ${e.ack}` : e.flags !== undefined && !e.flags.includes('A') ? '' : ' ack *';
  const opts = e.options === undefined ? ' <*>' : formatOptions(e.options);
  const at = e.at === undefined ? '' : ` @${e.at}ms`;
  return `${e.flags ?? '*'} ${q(e.seq)}:${end}(${q(len)})${ackText} win ${q(e.win)}${opts}${at}`;
}

function fmtTime(t: number): string {
  return (t / 1000).toFixed(3).padStart(9);
}

function sameOptions(a: TcpOptions, b: TcpOptions): boolean {
  return JSON.stringify(normalizeOptions(a)) === JSON.stringify(normalizeOptions(b));
}

function normalizeOptions(o: TcpOptions): TcpOptions {
  const out: TcpOptions = {};
  if (o.mss !== undefined) out.mss = o.mss;
  if (o.windowScale !== undefined) out.windowScale = o.windowScale;
  if (o.sackPermitted === true) out.sackPermitted = true;
  if (o.sackBlocks !== undefined) out.sackBlocks = o.sackBlocks;
  if (o.timestamps !== undefined) out.timestamps = o.timestamps;
  return out;
}

export class TcpPeer {
  readonly tcp: Tcp;
  now = 0;
  iss: number;
  readonly ourAddress: Ipv4Address;
  readonly peerAddress: Ipv4Address;
  ourPort: number;
  peerPort: number;
  /** Emitted segments not yet consumed by expect(). */
  readonly outbox: Emitted[] = [];
  /** Every segment in and out, as text with its time. */
  readonly trace: string[] = [];

  constructor(options: TcpPeerOptions = {}) {
    this.iss = options.iss ?? 5000;
    this.ourAddress = parseIpv4(options.ourAddress ?? '10.0.0.1');
    this.peerAddress = parseIpv4(options.peerAddress ?? '10.0.0.2');
    this.ourPort = options.ourPort ?? 80;
    this.peerPort = options.peerPort ?? 40000;
    this.tcp = new Tcp({
      localAddress: this.ourAddress,
      mtu: options.mtu ?? 1500,
      send: (packet) => this.collect(packet),
      ...(options.config === undefined ? {} : { config: options.config }),
      random: options.random ?? (() => 0),
      isn: () => this.iss,
      tsOffset: () => options.tsOffset ?? 0,
    });
  }

  // ---- the wire ---------------------------------------------------------------

  /** Sends one segment from the peer into the stack, at `now`. */
  send(seg: PeerSegment): void {
    const flags = parseFlags(seg.flags);
    if ((flags & ACK) !== 0 && seg.ack === undefined) throw new Error(`peer.send: flags ${seg.flags} need an ack number`);
    const payload = bytesOf(seg.data);
    const src = seg.src === undefined ? this.peerAddress : parseIpv4(seg.src);
    const packet = buildTcpPacket(
      { src, dst: this.ourAddress },
      {
        srcPort: seg.srcPort ?? this.peerPort,
        dstPort: seg.dstPort ?? this.ourPort,
        seq: seg.seq >>> 0,
        ack: (seg.ack ?? 0) >>> 0,
        flags,
        window: seg.win ?? 65535,
        ...(seg.options === undefined ? {} : { options: seg.options }),
        payload,
      },
    );
    if (seg.badChecksum === true) packet[20 + 17] = packet[20 + 17]! ^ 0xff;
    const opts = seg.options ?? {};
    this.trace.push(
      `${fmtTime(this.now)} < ${formatSegment(flags, seg.seq >>> 0, payload.length, (seg.ack ?? 0) >>> 0, seg.win ?? 65535, opts)}${
        seg.badChecksum === true ? ' (bad checksum)' : ''
      }`,
    );
    this.inject(packet, seg.offload ?? 0);
  }

  /**
   * Sends arbitrary TCP bytes (header and all) from the peer, wrapped in a
   * valid IPv4 header; the TCP checksum is fixed up unless told not to.
   */
  sendTcpBytes(tcp: Uint8Array, options: { fixChecksum?: boolean } = {}): void {
    const packet = new Uint8Array(20 + tcp.length);
    writeIpv4Header(packet, { src: this.peerAddress, dst: this.ourAddress, protocol: IP_PROTOCOL_TCP, totalLength: packet.length });
    packet.set(tcp, 20);
    if (options.fixChecksum !== false && tcp.length >= 18) {
      packet[20 + 16] = 0;
      packet[20 + 17] = 0;
      const sum = transportChecksum(this.peerAddress, this.ourAddress, IP_PROTOCOL_TCP, packet.subarray(20));
      packet[20 + 16] = sum >>> 8;
      packet[20 + 17] = sum & 0xff;
    }
    this.trace.push(`${fmtTime(this.now)} < (raw ${tcp.length} bytes)`);
    this.inject(packet);
  }

  /** Hands a raw IPv4 packet to the stack (it must pass the IPv4 check, as the IP layer guarantees). */
  inject(packet: Uint8Array, offload = 0): void {
    const reason = checkIpv4(packet);
    if (reason !== null) throw new Error(`peer.inject: not a valid IPv4 packet (${reason})`);
    this.tcp.input(new Ipv4View(packet, offload), this.now);
  }

  private collect(packet: Uint8Array): void {
    const ip = new Ipv4View(packet);
    const bytes = ip.payload;
    const reason = checkTcp(bytes, ip.src, ip.dst);
    if (reason !== null) throw new Error(`the stack emitted an invalid TCP segment (${reason})`);
    const v = new TcpView(bytes);
    const options = v.options();
    const payload = v.payload.slice();
    const e: Emitted = {
      time: this.now,
      src: ip.src,
      dst: ip.dst,
      srcPort: v.srcPort,
      dstPort: v.dstPort,
      seq: v.seq,
      ack: v.ack,
      flags: v.flags,
      win: v.window,
      options,
      payload,
      text: formatSegment(v.flags, v.seq, payload.length, v.ack, v.window, options),
    };
    this.outbox.push(e);
    this.trace.push(`${fmtTime(this.now)} > ${e.text}`);
  }

  /** Takes the next emitted segment and checks it against `exp`. */
  expect(exp: SegmentExpectation): Emitted {
    const e = this.outbox.shift();
    if (e === undefined) {
      this.fail(`expected  > ${formatExpectation(exp)}\nbut the stack sent nothing`);
    }
    const problems: string[] = [];
    if (exp.flags !== undefined && parseFlags(exp.flags) !== e.flags) problems.push('flags');
    if (exp.seq !== undefined && exp.seq >>> 0 !== e.seq) problems.push('seq');
    if (exp.ack !== undefined && exp.ack >>> 0 !== e.ack) problems.push('ack');
    if (exp.win !== undefined && exp.win !== e.win) problems.push('win');
    if (exp.len !== undefined && exp.len !== e.payload.length) problems.push('len');
    if (exp.data !== undefined && !equalBytes(bytesOf(exp.data), e.payload)) problems.push('data');
    if (exp.options !== undefined && !sameOptions(exp.options, e.options)) problems.push('options');
    if (exp.srcPort !== undefined && exp.srcPort !== e.srcPort) problems.push('srcPort');
    if (exp.dstPort !== undefined && exp.dstPort !== e.dstPort) problems.push('dstPort');
    if (exp.at !== undefined && Math.abs(exp.at - e.time) > 1e-9) problems.push('time');
    if (problems.length > 0) {
      this.fail(
        `segment mismatch (${problems.join(', ')})\n` +
          `expected  > ${formatExpectation(exp)}\n` +
          `actual    > ${e.text} @${e.time}ms` +
          (problems.includes('data') ? `\n  payload: ${JSON.stringify(decoder.decode(e.payload).slice(0, 80))}` : ''),
      );
    }
    return e;
  }

  /** Fails if the stack sent anything not yet expected. */
  expectNothing(): void {
    if (this.outbox.length > 0) {
      this.fail(`expected nothing, but the stack sent:\n${this.outbox.map((e) => `  > ${e.text} @${e.time}ms`).join('\n')}`);
    }
  }

  /** Removes and returns everything emitted so far. */
  drain(): Emitted[] {
    return this.outbox.splice(0, this.outbox.length);
  }

  private fail(message: string): never {
    const trace = this.trace.slice(-30).join('\n');
    const error = new Error(`${message}\n--- trace (t in s; < into the stack, > out of it) ---\n${trace}`);
    Error.captureStackTrace?.(error, this.fail);
    throw error;
  }

  // ---- time -------------------------------------------------------------------

  /** Moves the clock forward by `ms`, polling the stack at every deadline on the way. */
  advance(ms: number): void {
    this.advanceTo(this.now + ms);
  }

  advanceTo(target: number): void {
    for (let i = 0; ; i++) {
      if (i > 1_000_000) throw new Error('advance: the stack keeps asking to be polled at the same time');
      const d = this.tcp.nextDeadline();
      if (d > target) break;
      this.now = Math.max(this.now, d);
      this.tcp.poll(this.now);
    }
    this.now = target;
  }

  // ---- the application side ---------------------------------------------------

  listen(options: Partial<ListenOptions> = {}): AppListener {
    const listener = this.tcp.listen({ address: 0, port: this.ourPort, ...options });
    return new AppListener(this, listener);
  }

  /** Active open to the peer from `ourPort` (deterministic), unless told otherwise. */
  connect(options: Partial<ConnectOptions> = {}): AppConnection {
    const conn = this.tcp.connect(
      { remoteAddress: this.peerAddress, remotePort: this.peerPort, localPort: this.ourPort, ...options },
      this.now,
    );
    return new AppConnection(this, conn);
  }

  /**
   * Listen, then run the three-way handshake from the peer's side:
   *   < S irs:irs(0) win W <mss M>
   *   > SA iss:iss(0) ack irs+1
   *   < A irs+1:irs+1(0) ack iss+1 win W
   * and accept the connection. Sequence numbers continue at irs+1 / iss+1.
   */
  establishPassive(options: { irs?: number; mss?: number; win?: number; listen?: Partial<ListenOptions>; autoRead?: boolean } = {}): {
    server: AppListener;
    conn: AppConnection;
  } {
    const irs = options.irs ?? 1000;
    const win = options.win ?? 65535;
    const server = this.listen(options.listen);
    this.send({ flags: 'S', seq: irs, win, options: { mss: options.mss ?? 1460 } });
    this.expect({ flags: 'SA', seq: this.iss, ack: irs + 1 });
    this.send({ flags: 'A', seq: irs + 1, ack: this.iss + 1, win });
    const conn = server.accept(options.autoRead === undefined ? {} : { autoRead: options.autoRead });
    if (conn === undefined) throw new Error('establishPassive: nothing to accept');
    return { server, conn };
  }

  /**
   * connect(), then complete the handshake from the peer's side:
   *   > S iss:iss(0) <mss ...>
   *   < SA irs:irs(0) ack iss+1 win W <mss M>
   *   > A ack irs+1
   */
  establishActive(options: { irs?: number; mss?: number; win?: number; connect?: Partial<ConnectOptions> } = {}): AppConnection {
    const irs = options.irs ?? 9000;
    const conn = this.connect(options.connect);
    this.expect({ flags: 'S', seq: this.iss });
    this.send({ flags: 'SA', seq: irs, ack: this.iss + 1, win: options.win ?? 65535, options: { mss: options.mss ?? 1460 } });
    this.expect({ flags: 'A', seq: this.iss + 1, ack: irs + 1 });
    conn.takeEvents();
    return conn;
  }

  describe(): string {
    return `${formatIpv4(this.ourAddress)}:${this.ourPort} <-> ${formatIpv4(this.peerAddress)}:${this.peerPort}`;
  }
}

export class AppListener {
  acceptableCalls = 0;

  constructor(
    readonly peer: TcpPeer,
    readonly listener: TcpListener,
  ) {
    listener.onAcceptable = () => {
      this.acceptableCalls++;
    };
  }

  /** Accepts the oldest established connection (undefined if none). */
  accept(options: { autoRead?: boolean } = {}): AppConnection | undefined {
    const conn = this.listener.accept();
    return conn === undefined ? undefined : new AppConnection(this.peer, conn, options.autoRead ?? false);
  }

  close(): void {
    this.listener.close(this.peer.now);
  }
}

/** The application's side of one connection: records events, reads on demand. */
export class AppConnection {
  /** 'established', 'readable', 'writable', 'end', 'close' or 'close:CODE', in order. */
  readonly events: string[] = [];
  private readonly chunks: Uint8Array[] = [];
  closeError: StackError | null | undefined = undefined;

  constructor(
    readonly peer: TcpPeer,
    readonly conn: TcpConnection,
    /** Read everything as soon as it is readable. */
    public autoRead = false,
  ) {
    const handlers: ConnectionEvents = {
      onEstablished: () => this.events.push('established'),
      onReadable: () => {
        this.events.push('readable');
        if (this.autoRead) this.read();
      },
      onWritable: () => this.events.push('writable'),
      onEnd: () => this.events.push('end'),
      onClose: (error) => {
        this.closeError = error;
        this.events.push(error === null ? 'close' : `close:${error.code}`);
      },
    };
    conn.events = handlers;
  }

  get state(): string {
    return this.conn.state;
  }

  get readableLength(): number {
    return this.conn.readableLength;
  }

  write(data: string | Uint8Array): number {
    return this.conn.write(bytesOf(data), this.peer.now);
  }

  /** Reads up to `max` bytes (all by default) and keeps them in `received`. */
  read(max = Infinity): Uint8Array {
    const n = Math.min(max, this.conn.readableLength);
    const buf = new Uint8Array(n);
    const got = this.conn.read(buf, this.peer.now);
    const out = buf.subarray(0, got);
    this.chunks.push(out);
    return out;
  }

  /** Everything read so far. */
  get received(): Uint8Array {
    const total = this.chunks.reduce((s, c) => s + c.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }

  get receivedText(): string {
    return decoder.decode(this.received);
  }

  shutdown(): void {
    this.conn.shutdown(this.peer.now);
  }

  abort(): void {
    this.conn.abort(this.peer.now);
  }

  setNoDelay(on: boolean): void {
    this.conn.setNoDelay(on, this.peer.now);
  }

  setCork(on: boolean): void {
    this.conn.setCork(on, this.peer.now);
  }

  /** Events recorded since the last call. */
  takeEvents(): string[] {
    return this.events.splice(0, this.events.length);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Byte-exact comparison that stays fast on megabytes (vitest's deep equality
 * walks typed arrays element by element) and names the first difference.
 */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.length))) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  throw new Error(`bytes differ: lengths ${actual.length} vs ${expected.length} (expected), first difference at offset ${i}`);
}
