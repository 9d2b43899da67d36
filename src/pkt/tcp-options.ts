/**
 * TCP options as scripts write them: a literal, ordered list (NOPs
 * included), encoded byte for byte as written for inbound packets and decoded
 * byte for byte from outbound ones, so that "options when given" are
 * compared exactly as packetdrill compares them (kind by kind, in order).
 *
 * src/tcp/options.ts is the stack's own view (a set of values, laid out the
 * way Linux lays them out); the script's view must keep order and padding,
 * hence this separate, small codec.
 */
import type { TcpOptionSpec } from './ast.ts';
import { readU32 } from '../ip/bytes.ts';

const KIND_EOL = 0;
const KIND_NOP = 1;
const KIND_MSS = 2;
const KIND_WSCALE = 3;
const KIND_SACK_PERMITTED = 4;
const KIND_SACK = 5;
const KIND_TIMESTAMP = 8;
const KIND_MD5 = 19;
const KIND_FASTOPEN = 34;
const KIND_EXPERIMENTAL = 254;
const FASTOPEN_MAGIC = 0xf989;

function hexBytes(hex: string): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < hex.length; i += 2) out.push(parseInt(hex.slice(i, i + 2), 16) & 0xff);
  return out;
}

export function tcpOptionLength(o: TcpOptionSpec): number {
  switch (o.kind) {
    case 'nop':
    case 'eol':
      return 1;
    case 'mss':
      return 4;
    case 'wscale':
      return 3;
    case 'sackOK':
      return 2;
    case 'sack':
      return 2 + 8 * o.blocks.length;
    case 'timestamp':
      return 10;
    case 'md5':
      return 2 + (o.digest.length >> 1);
    case 'fastopen':
      return (o.experimental ? 4 : 2) + (o.cookie.length >> 1);
  }
}

export function tcpOptionsLength(list: readonly TcpOptionSpec[]): number {
  let n = 0;
  for (const o of list) n += tcpOptionLength(o);
  return n;
}

function u16(out: number[], v: number): void {
  out.push((v >>> 8) & 0xff, v & 0xff);
}

function u32(out: number[], v: number): void {
  out.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/**
 * Encodes the list as written. `mapSack` maps SACK block edges from script
 * to live sequence space (they are acknowledgment numbers).
 */
export function encodeTcpOptions(list: readonly TcpOptionSpec[], mapSack: (seq: number) => number = (s) => s): Uint8Array {
  const out: number[] = [];
  for (const o of list) {
    switch (o.kind) {
      case 'nop':
        out.push(KIND_NOP);
        break;
      case 'eol':
        out.push(KIND_EOL);
        break;
      case 'mss':
        out.push(KIND_MSS, 4);
        u16(out, o.value);
        break;
      case 'wscale':
        out.push(KIND_WSCALE, 3, o.value);
        break;
      case 'sackOK':
        out.push(KIND_SACK_PERMITTED, 2);
        break;
      case 'sack':
        out.push(KIND_SACK, 2 + 8 * o.blocks.length);
        for (const b of o.blocks) {
          u32(out, mapSack(b.left));
          u32(out, mapSack(b.right));
        }
        break;
      case 'timestamp':
        out.push(KIND_TIMESTAMP, 10);
        u32(out, o.val);
        u32(out, o.ecr);
        break;
      case 'md5': {
        const digest = hexBytes(o.digest);
        out.push(KIND_MD5, 2 + digest.length, ...digest);
        break;
      }
      case 'fastopen': {
        const cookie = hexBytes(o.cookie);
        if (o.experimental) {
          out.push(KIND_EXPERIMENTAL, 4 + cookie.length);
          u16(out, FASTOPEN_MAGIC);
        } else {
          out.push(KIND_FASTOPEN, 2 + cookie.length);
        }
        out.push(...cookie);
        break;
      }
    }
  }
  return Uint8Array.from(out);
}

function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}


/** An option we could not name: kept so that the mismatch message shows it. */
export interface RawOption {
  kind: 'raw';
  code: number;
  length: number;
}

export type DecodedOption = TcpOptionSpec | RawOption;

/**
 * Decodes the option bytes of a segment in order. Padding after an EOL is
 * not reported (packetdrill's iterator stops at EOL too). `mapSack` maps
 * SACK edges from live to script space.
 */
export function decodeTcpOptions(bytes: Uint8Array, mapSack: (seq: number) => number = (s) => s): DecodedOption[] {
  const list: DecodedOption[] = [];
  let i = 0;
  while (i < bytes.length) {
    const kind = bytes[i]!;
    if (kind === KIND_EOL) {
      list.push({ kind: 'eol' });
      break;
    }
    if (kind === KIND_NOP) {
      list.push({ kind: 'nop' });
      i++;
      continue;
    }
    const len = bytes[i + 1] ?? 0;
    if (len < 2 || i + len > bytes.length) {
      list.push({ kind: 'raw', code: kind, length: len });
      break;
    }
    const body = bytes.subarray(i + 2, i + len);
    if (kind === KIND_MSS && len === 4) list.push({ kind: 'mss', value: (body[0]! << 8) | body[1]! });
    else if (kind === KIND_WSCALE && len === 3) list.push({ kind: 'wscale', value: body[0]! });
    else if (kind === KIND_SACK_PERMITTED && len === 2) list.push({ kind: 'sackOK' });
    else if (kind === KIND_SACK && (len - 2) % 8 === 0 && len > 2) {
      const blocks: Array<{ left: number; right: number }> = [];
      for (let b = 0; b + 8 <= body.length; b += 8) {
        blocks.push({ left: mapSack(readU32(body, b)), right: mapSack(readU32(body, b + 4)) });
      }
      list.push({ kind: 'sack', blocks });
    } else if (kind === KIND_TIMESTAMP && len === 10) {
      list.push({ kind: 'timestamp', val: readU32(body, 0), ecr: readU32(body, 4) });
    } else if (kind === KIND_MD5) list.push({ kind: 'md5', digest: toHex(body) });
    else if (kind === KIND_FASTOPEN) list.push({ kind: 'fastopen', cookie: toHex(body), experimental: false });
    else if (kind === KIND_EXPERIMENTAL && len >= 4 && ((body[0]! << 8) | body[1]!) === FASTOPEN_MAGIC) {
      list.push({ kind: 'fastopen', cookie: toHex(body.subarray(2)), experimental: true });
    } else list.push({ kind: 'raw', code: kind, length: len });
    i += len;
  }
  return list;
}

export function formatTcpOption(o: DecodedOption): string {
  switch (o.kind) {
    case 'nop':
    case 'eol':
      return o.kind;
    case 'mss':
      return `mss ${o.value}`;
    case 'wscale':
      return `wscale ${o.value}`;
    case 'sackOK':
      return 'sackOK';
    case 'sack':
      return `sack ${o.blocks.map((b) => `${b.left}:${b.right}`).join(' ')}`;
    case 'timestamp':
      return `TS val ${o.val} ecr ${o.ecr}`;
    case 'md5':
      return `md5 ${o.digest}`;
    case 'fastopen':
      return `${o.experimental ? 'FOEXP' : 'FO'}${o.cookie === '' ? '' : ` ${o.cookie}`}`;
    case 'raw':
      return `kind ${o.code} len ${o.length}`;
  }
}

export function formatTcpOptions(list: readonly DecodedOption[] | null): string {
  if (list === null) return '<...>';
  return `<${list.map(formatTcpOption).join(',')}>`;
}

/**
 * Compares one expected option with one actual option as packetdrill's
 * verify_outbound_tcp_option does: same kind, same length and bytes —
 * except the timestamp, whose value is a clock reading packetdrill does not
 * check by default (tcp_ts_tick_usecs = 0) and whose echo it never checks.
 */
function sameOption(expected: TcpOptionSpec, actual: DecodedOption): boolean {
  if (actual.kind !== expected.kind) return false;
  if (expected.kind === 'timestamp') return true;
  return formatTcpOption(expected) === formatTcpOption(actual);
}

/**
 * Exact comparison: same options, same order, same NOP padding. In tolerant
 * mode the order and the NOP/EOL padding do not matter, only the multiset
 * of options with their values.
 */
export function sameTcpOptions(expected: readonly TcpOptionSpec[], actual: readonly DecodedOption[], tolerant: boolean): boolean {
  if (!tolerant) {
    if (expected.length !== actual.length) return false;
    return expected.every((o, i) => sameOption(o, actual[i]!));
  }
  const isPad = (o: DecodedOption): boolean => o.kind === 'nop' || o.kind === 'eol';
  const want = expected.filter((o) => !isPad(o));
  const have = actual.filter((o) => !isPad(o));
  if (want.length !== have.length) return false;
  const used = new Array<boolean>(have.length).fill(false);
  for (const w of want) {
    const k = have.findIndex((h, i) => !used[i] && sameOption(w, h));
    if (k < 0) return false;
    used[k] = true;
  }
  return true;
}
