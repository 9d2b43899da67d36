/**
 * The options of segments after the handshake, both ways: what every
 * segment we send carries (RFC 7323 timestamps, RFC 2018 SACK blocks; Linux
 * calls this tcp_established_options), and what we read out of every
 * segment that arrives (TSval/TSecr, the peer's SACK blocks).
 *
 * Options are read straight from the validated header (`checkTcp` already
 * walked it), without building a `TcpOptions` object per segment: with
 * timestamps on, every segment has options and this is the hot path.
 */
import type { Connection } from './connection.ts';
import { OPT_EOL, OPT_NOP, OPT_SACK, OPT_TIMESTAMPS } from './options.ts';
import type { SackBlock, TcpOptions } from './options.ts';
import { MAX_OPTION_SPACE, NO_SACK_BLOCKS, hasSackInformation, sackBlocksFitting, sackBlocksToSend } from './sack-blocks.ts';
import type { TcpView } from './segment.ts';
import { TCP_HEADER_LENGTH } from './segment.ts';
import { tsClock } from './timestamps.ts';
import { readU32 } from '../ip/bytes.ts';

/** NOP, NOP, kind 8, length 10, TSval, TSecr (RFC 7323 Appendix A's layout). */
export const TIMESTAMPS_OPTION_LENGTH = 12;

/**
 * Options for a non-SYN segment with `payloadLength` bytes (undefined when
 * it carries none). Every segment but an RST carries TSopt once timestamps
 * are on (RFC 7323 §3.2), echoing TS.Recent. SACK blocks go in as many as
 * fit beside it, both in the 40 bytes of option space (3 with timestamps, 4
 * without) and within the MSS together with the payload (RFC 6691: the MSS
 * bounds payload plus options), so a full-sized data segment carries none;
 * the pure ACKs we send for out-of-order data always have room.
 */
export function segmentOptions(c: Connection, now: number, payloadLength: number): TcpOptions | undefined {
  const ts = c.tsEnabled;
  let sackBlocks: SackBlock[] | undefined;
  if (hasSackInformation(c)) {
    const used = ts ? TIMESTAMPS_OPTION_LENGTH : 0;
    const room = Math.min(MAX_OPTION_SPACE - used, c.mss - used - payloadLength);
    const n = sackBlocksFitting(room);
    if (n > 0) sackBlocks = sackBlocksToSend(c, n);
  }
  if (!ts && sackBlocks === undefined) return undefined;
  const options: TcpOptions = {};
  if (ts) options.timestamps = { value: tsClock(c, now), echo: c.tsRecent };
  if (sackBlocks !== undefined) options.sackBlocks = sackBlocks;
  return options;
}

/**
 * Reads TSval/TSecr into `segHasTs`/`segTsVal`/`segTsEcr` and the SACK
 * blocks into `peerSackBlocks`, for a segment arriving on a synchronized
 * connection. Only the options that were negotiated are looked at: a
 * timestamp or SACK block on a connection that did not agree to them is
 * ignored (RFC 7323 §3.2, RFC 2018 §2).
 */
export function readArrivalOptions(c: Connection, seg: TcpView): void {
  c.segHasTs = false;
  c.peerSackBlocks = NO_SACK_BLOCKS;
  if (!c.tsEnabled && !c.sackPermitted) return;
  const buf = seg.bytes;
  const end = seg.headerLength;
  let i = TCP_HEADER_LENGTH;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === OPT_EOL) break;
    if (kind === OPT_NOP) {
      i++;
      continue;
    }
    const len = buf[i + 1]!;
    if (kind === OPT_TIMESTAMPS && c.tsEnabled) {
      c.segHasTs = true;
      c.segTsVal = readU32(buf, i + 2);
      c.segTsEcr = readU32(buf, i + 6);
    } else if (kind === OPT_SACK && c.sackPermitted) {
      const blocks: SackBlock[] = [];
      for (let b = i + 2; b + 8 <= i + len; b += 8) blocks.push({ left: readU32(buf, b), right: readU32(buf, b + 4) });
      c.peerSackBlocks = blocks;
    }
    i += len;
  }
}
