/**
 * TCP options (RFC 9293 §3.1-3.2): End of Option List, No-Operation, Maximum
 * Segment Size (RFC 9293 §3.7.1), Window Scale and Timestamps (RFC 7323),
 * SACK-Permitted and SACK (RFC 2018).
 *
 * Validation and parsing are separate, as with the header itself: the input
 * path calls `checkOptions` once (no allocation) and only the few segments
 * that need their options (SYNs, for now) are parsed into a `TcpOptions`.
 *
 * Malformed lists drop the segment rather than being half-understood: a
 * length below 2 (which would make the walk loop or go backwards), a length
 * running past the header, or the wrong length for a kind we know. RFC 9293
 * §3.1 asks us to skip options we do not know by their length, which we do.
 */
import { readU16, readU32, writeU16, writeU32 } from '../ip/bytes.ts';

export const OPT_EOL = 0;
export const OPT_NOP = 1;
export const OPT_MSS = 2;
export const OPT_WINDOW_SCALE = 3;
export const OPT_SACK_PERMITTED = 4;
export const OPT_SACK = 5;
export const OPT_TIMESTAMPS = 8;

/** RFC 7323 §2.3: shifts above 14 are treated as 14. */
export const MAX_WINDOW_SCALE = 14;

export interface SackBlock {
  /** First sequence number of the block. */
  left: number;
  /** Sequence number just past the block. */
  right: number;
}

export interface Timestamps {
  value: number;
  echo: number;
}

export interface TcpOptions {
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  sackBlocks?: SackBlock[];
  timestamps?: Timestamps;
}

/** Returns true when the option list in buf[start, end) is well formed. */
export function checkOptions(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === OPT_EOL) return true;
    if (kind === OPT_NOP) {
      i += 1;
      continue;
    }
    if (i + 1 >= end) return false;
    const len = buf[i + 1]!;
    if (len < 2 || i + len > end) return false;
    switch (kind) {
      case OPT_MSS:
        if (len !== 4) return false;
        break;
      case OPT_WINDOW_SCALE:
        if (len !== 3) return false;
        break;
      case OPT_SACK_PERMITTED:
        if (len !== 2) return false;
        break;
      case OPT_SACK:
        // 1 to 4 blocks of 8 bytes (RFC 2018 §3; 4 is all that fits in 40 bytes).
        if (len < 10 || len > 34 || (len - 2) % 8 !== 0) return false;
        break;
      case OPT_TIMESTAMPS:
        if (len !== 10) return false;
        break;
      default:
        break;
    }
    i += len;
  }
  return true;
}

/** Parses an option list that `checkOptions` accepted. A repeated option: the last one wins. */
export function parseOptions(buf: Uint8Array, start: number, end: number): TcpOptions {
  const out: TcpOptions = {};
  let i = start;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === OPT_EOL) break;
    if (kind === OPT_NOP) {
      i += 1;
      continue;
    }
    const len = buf[i + 1]!;
    switch (kind) {
      case OPT_MSS:
        out.mss = readU16(buf, i + 2);
        break;
      case OPT_WINDOW_SCALE:
        out.windowScale = buf[i + 2]!;
        break;
      case OPT_SACK_PERMITTED:
        out.sackPermitted = true;
        break;
      case OPT_SACK: {
        const blocks: SackBlock[] = [];
        for (let b = i + 2; b + 8 <= i + len; b += 8) {
          blocks.push({ left: readU32(buf, b), right: readU32(buf, b + 4) });
        }
        out.sackBlocks = blocks;
        break;
      }
      case OPT_TIMESTAMPS:
        out.timestamps = { value: readU32(buf, i + 2), echo: readU32(buf, i + 6) };
        break;
      default:
        break;
    }
    i += len;
  }
  return out;
}

/**
 * Bytes `writeOptions` will write for `opts`: always a multiple of 4, as the
 * data offset counts 32-bit words. The layout follows Linux's (NOPs to align
 * each option group) so that captures look familiar.
 */
export function optionsLength(opts: TcpOptions | undefined): number {
  if (opts === undefined) return 0;
  let n = 0;
  if (opts.mss !== undefined) n += 4;
  if (opts.timestamps !== undefined) n += 12; // SACK-Permitted rides in the two NOPs
  else if (opts.sackPermitted === true) n += 4;
  if (opts.windowScale !== undefined) n += 4;
  if (opts.sackBlocks !== undefined && opts.sackBlocks.length > 0) n += 4 + 8 * Math.min(4, opts.sackBlocks.length);
  return n;
}

/** Writes `opts` at `offset`; returns the bytes written (= optionsLength). */
export function writeOptions(buf: Uint8Array, offset: number, opts: TcpOptions | undefined): number {
  if (opts === undefined) return 0;
  let i = offset;
  if (opts.mss !== undefined) {
    buf[i++] = OPT_MSS;
    buf[i++] = 4;
    writeU16(buf, i, opts.mss);
    i += 2;
  }
  if (opts.timestamps !== undefined) {
    if (opts.sackPermitted === true) {
      buf[i++] = OPT_SACK_PERMITTED;
      buf[i++] = 2;
    } else {
      buf[i++] = OPT_NOP;
      buf[i++] = OPT_NOP;
    }
    buf[i++] = OPT_TIMESTAMPS;
    buf[i++] = 10;
    writeU32(buf, i, opts.timestamps.value);
    writeU32(buf, i + 4, opts.timestamps.echo);
    i += 8;
  } else if (opts.sackPermitted === true) {
    buf[i++] = OPT_NOP;
    buf[i++] = OPT_NOP;
    buf[i++] = OPT_SACK_PERMITTED;
    buf[i++] = 2;
  }
  if (opts.windowScale !== undefined) {
    buf[i++] = OPT_NOP;
    buf[i++] = OPT_WINDOW_SCALE;
    buf[i++] = 3;
    buf[i++] = opts.windowScale;
  }
  if (opts.sackBlocks !== undefined && opts.sackBlocks.length > 0) {
    const blocks = opts.sackBlocks.slice(0, 4);
    buf[i++] = OPT_NOP;
    buf[i++] = OPT_NOP;
    buf[i++] = OPT_SACK;
    buf[i++] = 2 + 8 * blocks.length;
    for (const block of blocks) {
      writeU32(buf, i, block.left);
      writeU32(buf, i + 4, block.right);
      i += 8;
    }
  }
  return i - offset;
}
