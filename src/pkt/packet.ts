/**
 * Packets between script form and wire form: the sequence-number mapping of
 * packetdrill's socket.h, building inbound packets, reading outbound ones
 * back into script form, matching them field by field and printing both in
 * script syntax for failure messages.
 */
import type { Ipv4Address } from '../ip/address.ts';
import { Ipv4View } from '../ip/ipv4.ts';
import { IPV4_HEADER_LENGTH, IP_PROTOCOL_TCP, writeIpv4Header } from '../ip/ipv4-header.ts';
import { internetChecksum, pseudoHeaderSum } from '../ip/checksum.ts';
import { ACK, CWR, ECE, FIN, PSH, RST, SYN, URG } from '../tcp/flags.ts';
import type { IpInfo, TcpPacketSpec } from './ast.ts';
import { decodeTcpOptions, encodeTcpOptions, formatTcpOptions, sameTcpOptions, type DecodedOption } from './tcp-options.ts';

/**
 * One TCP connection as the script sees it: its ports and the ISNs that map
 * script sequence numbers to live ones. As in tcpdump and packetdrill,
 * numbers in segments carrying SYN are absolute (ours shifted by the
 * script's own ISN), numbers in all others are relative to the ISNs.
 */
export interface Flow {
  localPort: number;
  remotePort: number;
  /** The peer's ISN: the script's own SYN (or SYN-ACK) sequence number. */
  remoteIsn: number;
  /** Our ISN as the script wrote it in our SYN or SYN-ACK, and as we chose it. */
  scriptLocalIsn: number;
  liveLocalIsn: number;
  /** packetdrill's socket states, as far as ISN learning needs them. */
  state: 'passive-syn-received' | 'passive-synack-sent' | 'active-connecting' | 'active-syn-sent' | 'established' | 'other';
}

const U32 = 0x1_0000_0000;

function add32(a: number, b: number): number {
  return (((a + b) % U32) + U32) % U32;
}

export function remoteSeqScriptToLive(flow: Flow, seq: number, syn: boolean): number {
  return syn ? seq : add32(seq, flow.remoteIsn);
}

export function remoteSeqLiveToScript(flow: Flow, seq: number, syn: boolean): number {
  return syn ? seq : add32(seq, -flow.remoteIsn);
}

export function localSeqScriptToLive(flow: Flow, seq: number, syn: boolean): number {
  return syn ? add32(seq, flow.liveLocalIsn - flow.scriptLocalIsn) : add32(seq, flow.liveLocalIsn);
}

export function localSeqLiveToScript(flow: Flow, seq: number, syn: boolean): number {
  return syn ? add32(seq, flow.scriptLocalIsn - flow.liveLocalIsn) : add32(seq, -flow.liveLocalIsn);
}

const ECN_BITS: Readonly<Record<string, number>> = { noecn: 0, ect1: 1, ect0: 2, ce: 3 };

/** Builds the IPv4 packet for an inbound script packet (payload: zeros, as packetdrill sends). */
export function buildInbound(
  spec: TcpPacketSpec,
  flow: Flow,
  remote: Ipv4Address,
  local: Ipv4Address,
): Uint8Array {
  const syn = (spec.flagBits & SYN) !== 0;
  const seq = remoteSeqScriptToLive(flow, spec.seq, syn);
  const ack = spec.ack === null ? 0 : localSeqScriptToLive(flow, spec.ack, syn);
  const options = encodeTcpOptions(spec.options ?? [], (s) => localSeqScriptToLive(flow, s, false));
  const tcpLength = 20 + options.length + spec.len;
  const total = IPV4_HEADER_LENGTH + tcpLength;
  const buf = new Uint8Array(total);
  writeIpv4Header(buf, {
    src: remote,
    dst: local,
    protocol: IP_PROTOCOL_TCP,
    totalLength: total,
    ...(spec.ipInfo?.ttl === undefined ? {} : { ttl: spec.ipInfo.ttl }),
  });
  const tos = inboundTos(spec.ipInfo);
  if (tos !== 0) {
    buf[1] = tos;
    buf[10] = 0;
    buf[11] = 0;
    const sum = internetChecksum(buf.subarray(0, IPV4_HEADER_LENGTH));
    buf[10] = sum >>> 8;
    buf[11] = sum & 0xff;
  }
  const t = IPV4_HEADER_LENGTH;
  const dv = new DataView(buf.buffer);
  dv.setUint16(t, flow.remotePort);
  dv.setUint16(t + 2, flow.localPort);
  dv.setUint32(t + 4, seq);
  dv.setUint32(t + 8, ack);
  buf[t + 12] = ((20 + options.length) / 4) << 4;
  buf[t + 13] = spec.flagBits;
  dv.setUint16(t + 14, spec.win ?? 0);
  dv.setUint16(t + 18, spec.urg ?? 0);
  buf.set(options, t + 20);
  const sum = internetChecksum(buf.subarray(t), pseudoHeaderSum(remote, local, IP_PROTOCOL_TCP, tcpLength));
  dv.setUint16(t + 16, sum);
  return buf;
}

function inboundTos(info: IpInfo | null): number {
  if (info === null) return 0;
  let tos = info.tos ?? 0;
  if (info.ecn !== undefined && info.ecn !== 'ect01') tos = (tos & ~3) | ECN_BITS[info.ecn]!;
  return tos;
}

/** An outbound packet read back into script space. */
export interface ObservedPacket {
  /** Virtual time it left, µs. */
  time: number;
  srcPort: number;
  dstPort: number;
  flagBits: number;
  seq: number;
  len: number;
  ack: number;
  win: number;
  urg: number;
  options: DecodedOption[];
  payload: Uint8Array;
  tos: number;
  ttl: number;
}

export interface RawTcp {
  src: Ipv4Address;
  dst: Ipv4Address;
  srcPort: number;
  dstPort: number;
  flags: number;
  tos: number;
  ttl: number;
}

/** Reads addresses and ports of an IPv4/TCP packet; null when it is not one. */
export function peekTcp(bytes: Uint8Array): RawTcp | null {
  if (bytes.length < IPV4_HEADER_LENGTH + 20 || bytes[0]! >>> 4 !== 4) return null;
  const ip = new Ipv4View(bytes);
  if (ip.protocol !== IP_PROTOCOL_TCP) return null;
  const t = ip.payload;
  if (t.length < 20) return null;
  return {
    src: ip.src,
    dst: ip.dst,
    srcPort: (t[0]! << 8) | t[1]!,
    dstPort: (t[2]! << 8) | t[3]!,
    flags: t[13]!,
    tos: ip.tos,
    ttl: ip.ttl,
  };
}

export function observe(bytes: Uint8Array, time: number, flow: Flow): ObservedPacket {
  const ip = new Ipv4View(bytes);
  const t = ip.payload;
  const dv = new DataView(t.buffer, t.byteOffset, t.byteLength);
  const flags = t[13]!;
  const syn = (flags & SYN) !== 0;
  const hl = (t[12]! >>> 4) * 4;
  return {
    time,
    srcPort: dv.getUint16(0),
    dstPort: dv.getUint16(2),
    flagBits: flags,
    seq: localSeqLiveToScript(flow, dv.getUint32(4), syn),
    len: t.length - hl,
    ack: remoteSeqLiveToScript(flow, dv.getUint32(8), syn),
    win: dv.getUint16(14),
    urg: dv.getUint16(18),
    options: decodeTcpOptions(t.subarray(20, hl), (s) => remoteSeqLiveToScript(flow, s, false)),
    payload: t.subarray(hl),
    tos: ip.tos,
    ttl: ip.ttl,
  };
}

// packetdrill prints flags in this order, '.' for ACK.
const FLAG_ORDER: ReadonlyArray<readonly [string, number]> = [
  ['F', FIN],
  ['S', SYN],
  ['R', RST],
  ['P', PSH],
  ['.', ACK],
  ['U', URG],
  ['E', ECE],
  ['W', CWR],
];

export function formatFlags(bits: number): string {
  let s = '';
  for (const [letter, bit] of FLAG_ORDER) if ((bits & bit) !== 0) s += letter;
  return s === '' ? '-' : s;
}

function formatIpInfo(info: IpInfo | null): string {
  if (info === null) return '';
  const parts: string[] = [];
  if (info.ecn !== undefined) parts.push(info.ecn);
  if (info.tos !== undefined) parts.push(`tos 0x${info.tos.toString(16)}`);
  if (info.ttl !== undefined) parts.push(`ttl ${info.ttl}`);
  return parts.length === 0 ? '' : `[${parts.join(',')}] `;
}

/** The script's packet, normalised (flags in packetdrill's order). */
export function formatSpec(direction: 'inbound' | 'outbound', spec: TcpPacketSpec): string {
  const ports = spec.srcPort === null ? '' : `${spec.srcPort}>${spec.dstPort} `;
  let s = `${direction === 'inbound' ? '<' : '>'} ${formatIpInfo(spec.ipInfo)}${ports}${formatFlags(spec.flagBits)} ${spec.seq}:${spec.seq + spec.len}(${spec.len})`;
  if (spec.ack !== null) s += ` ack ${spec.ack}`;
  if (spec.win !== null) s += ` win ${spec.win}`;
  if (spec.urg !== null) s += ` urg ${spec.urg}`;
  if (spec.options === null) s += ' <...>';
  else if (spec.options.length > 0) s += ` ${formatTcpOptions(spec.options)}`;
  return s;
}

/** What we sent, in script form (always with win; ports when asked). */
export function formatObserved(p: ObservedPacket, withPorts: boolean): string {
  const ports = withPorts ? `${p.srcPort}>${p.dstPort} ` : '';
  let s = `> ${ports}${formatFlags(p.flagBits)} ${p.seq}:${(p.seq + p.len) % U32}(${p.len})`;
  if ((p.flagBits & ACK) !== 0) s += ` ack ${p.ack}`;
  s += ` win ${p.win}`;
  if ((p.flagBits & URG) !== 0 || p.urg !== 0) s += ` urg ${p.urg}`;
  if (p.options.length > 0) s += ` ${formatTcpOptions(p.options)}`;
  return s;
}

export interface Mismatch {
  field: string;
  expected: string;
  actual: string;
}

const FLAG_NAMES: ReadonlyArray<readonly [string, number]> = [
  ['syn', SYN],
  ['rst', RST],
  ['ack', ACK],
  ['fin', FIN],
  ['psh', PSH],
  ['urg', URG],
  ['ece', ECE],
  ['cwr', CWR],
];

/**
 * Compares what the script expects with what we sent, in packetdrill's order
 * (flags, seq, ack, window, urgent pointer, options, payload). The ack field
 * is compared only when ACK is set: without the flag the field carries no
 * meaning (packetdrill compares it anyway, against 0).
 */
export function matchOutbound(spec: TcpPacketSpec, p: ObservedPacket, tolerant: boolean): Mismatch | null {
  for (const [name, bit] of FLAG_NAMES) {
    if ((spec.flagBits & bit) !== (p.flagBits & bit)) {
      return { field: `tcp_${name}`, expected: (spec.flagBits & bit) !== 0 ? '1' : '0', actual: (p.flagBits & bit) !== 0 ? '1' : '0' };
    }
  }
  if (spec.seq !== p.seq) return { field: 'tcp_seq', expected: String(spec.seq), actual: String(p.seq) };
  if (spec.len !== p.len) return { field: 'payload length', expected: String(spec.len), actual: String(p.len) };
  if ((spec.flagBits & ACK) !== 0) {
    const ack = spec.ack ?? 0;
    if (ack !== p.ack) return { field: 'tcp_ack_seq', expected: String(ack), actual: String(p.ack) };
  }
  if (spec.win !== null && spec.win !== p.win) return { field: 'tcp_window', expected: String(spec.win), actual: String(p.win) };
  const urg = spec.urg ?? 0;
  if (urg !== p.urg) return { field: 'tcp_urg_ptr', expected: String(urg), actual: String(p.urg) };
  if (spec.options !== null && !sameTcpOptions(spec.options, p.options, tolerant)) {
    return { field: 'tcp options', expected: formatTcpOptions(spec.options), actual: formatTcpOptions(p.options) };
  }
  if (p.payload.some((b) => b !== 0)) {
    // Everything a script writes is zeros (packetdrill's write() sends a zeroed buffer).
    return { field: 'payload', expected: 'zero bytes', actual: 'non-zero bytes' };
  }
  const info = spec.ipInfo;
  if (info !== null) {
    const ecn = p.tos & 3;
    if (info.ecn === 'ect01' && ecn !== 1 && ecn !== 2) return { field: 'ip_ecn', expected: '0x1 or 0x2', actual: `0x${ecn.toString(16)}` };
    if (info.ecn !== undefined && info.ecn !== 'ect01' && ECN_BITS[info.ecn] !== ecn) {
      return { field: 'ip_ecn', expected: `0x${ECN_BITS[info.ecn]!.toString(16)}`, actual: `0x${ecn.toString(16)}` };
    }
    if (info.tos !== undefined && info.tos !== p.tos) return { field: 'tos', expected: `0x${info.tos.toString(16)}`, actual: `0x${p.tos.toString(16)}` };
    if (info.ttl !== undefined && info.ttl !== p.ttl) return { field: 'ttl', expected: String(info.ttl), actual: String(p.ttl) };
  }
  return null;
}
