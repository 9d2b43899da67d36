/**
 * SACK as a receiver (RFC 2018 §3-4, RFC 2883): the blocks our ACKs carry,
 * built from the out-of-order assembler, and the duplicate ranges we report
 * with D-SACK. (The sender's side, which reads the peer's blocks from
 * `Connection.peerSackBlocks`, is loss recovery's business.)
 */
import type { Connection } from './connection.ts';
import type { SackBlock } from './options.ts';
import { seqAdd, seqDiff } from './seq.ts';

/** The value of `Connection.peerSackBlocks` for a segment without SACK blocks. */
export const NO_SACK_BLOCKS: readonly SackBlock[] = Object.freeze([]);

/** Bytes of TCP options a header can hold (data offset 15 words - 20 bytes of header). */
export const MAX_OPTION_SPACE = 40;
/** NOP, NOP, kind, length: the SACK option before its blocks (the layout options.ts writes). */
const SACK_OPTION_OVERHEAD = 4;
const SACK_BLOCK_LENGTH = 8;
/** RFC 2018 §3: four blocks are all 40 bytes hold (three beside timestamps). */
export const MAX_SACK_BLOCKS = 4;

/** True when the next ACK has SACK information to carry. */
export function hasSackInformation(c: Connection): boolean {
  return c.sackPermitted && (c.dsack !== null || !c.assembler.isEmpty());
}

/** How many blocks fit in `room` bytes of option space. */
export function sackBlocksFitting(room: number): number {
  if (room < SACK_OPTION_OVERHEAD + SACK_BLOCK_LENGTH) return 0;
  return Math.min(MAX_SACK_BLOCKS, Math.floor((room - SACK_OPTION_OVERHEAD) / SACK_BLOCK_LENGTH));
}

/**
 * Up to `max` blocks for the ACK about to go out (RFC 2018 §4): a pending
 * D-SACK block first (RFC 2883 §4, reported once), then the out-of-order
 * ranges the assembler holds, the one most recently added to first, so that
 * the block containing the segment that triggered this ACK leads and each
 * range is repeated in several ACKs in case some are lost.
 */
export function sackBlocksToSend(c: Connection, max: number): SackBlock[] {
  const blocks: SackBlock[] = [];
  if (max <= 0) return blocks;
  if (c.dsack !== null) {
    blocks.push(c.dsack);
    c.dsack = null;
  }
  const base = c.rcvNxt;
  for (const r of c.assembler.sackRanges(max - blocks.length)) {
    blocks.push({ left: seqAdd(base, r.start), right: seqAdd(base, r.end) });
  }
  return blocks;
}

/**
 * RFC 2883: of `length` bytes of text at `seq`, the part below RCV.NXT is a
 * duplicate of what we already had. The next ACK reports it as its first
 * block, which tells the sender its retransmission was unnecessary. Text
 * that was refused for lying beyond the window is no duplicate. Only the
 * latest duplicate is kept: D-SACK is advisory, and one block per ACK is
 * what RFC 2883 §4 asks.
 */
export function recordDuplicate(c: Connection, seq: number, length: number): void {
  if (length <= 0 || !c.sackPermitted || c.host.config.dsack === 0) return;
  const duplicate = Math.min(length, seqDiff(c.rcvNxt, seq));
  if (duplicate <= 0) return;
  c.dsack = { left: seq, right: seqAdd(seq, duplicate) };
}
