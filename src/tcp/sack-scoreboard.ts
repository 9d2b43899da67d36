/**
 * The sender's SACK scoreboard (RFC 6675 §3, §4 Update()): which bytes above
 * SND.UNA the receiver reported holding (RFC 2018 SACK blocks), as sorted,
 * disjoint, non-adjacent sequence ranges [left, right).
 *
 * From it loss recovery derives everything RFC 6675 asks of a scoreboard:
 * IsLost() as one boundary (every un-SACKed byte below it is lost, see
 * `lostBoundary`), the bytes SACKed in any range (for pipe), and the holes
 * NextSeg() walks.
 *
 * Bounded: at most `maxRanges` ranges. When a new block would need one more,
 * the highest range is forgotten. Forgetting is always safe — at worst a
 * byte the receiver holds is retransmitted — whereas merging two ranges
 * would claim bytes the receiver never got, and they would never be sent
 * again until a timeout.
 */
import { seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin } from './seq.ts';

export const DEFAULT_SCOREBOARD_RANGES = 128;

export class SackScoreboard {
  readonly maxRanges: number;
  /** Parallel arrays, sorted by left edge. */
  private lefts: number[] = [];
  private rights: number[] = [];
  private total = 0;
  /** Ranges dropped because the scoreboard was full (for stats and tests). */
  overflows = 0;

  constructor(maxRanges = DEFAULT_SCOREBOARD_RANGES) {
    if (!Number.isInteger(maxRanges) || maxRanges < 1) throw new RangeError(`maxRanges must be a positive integer, got ${maxRanges}`);
    this.maxRanges = maxRanges;
  }

  get rangeCount(): number {
    return this.lefts.length;
  }

  /** Bytes currently SACKed. */
  get sackedBytes(): number {
    return this.total;
  }

  isEmpty(): boolean {
    return this.lefts.length === 0;
  }

  clear(): void {
    this.lefts.length = 0;
    this.rights.length = 0;
    this.total = 0;
  }

  /** The ranges, lowest first (copies; for tests and traces). */
  ranges(): { left: number; right: number }[] {
    return this.lefts.map((left, i) => ({ left, right: this.rights[i]! }));
  }

  /** Right edge of the highest SACKed range (RFC 6675 "HighSACK" + 1); undefined when empty. */
  highest(): number | undefined {
    const n = this.rights.length;
    return n === 0 ? undefined : this.rights[n - 1];
  }

  /**
   * RFC 6675 Update(): records [left, right), already validated by the
   * caller against [SND.UNA, SND.MAX]. Returns the bytes not SACKed before
   * (0: the block told us nothing new).
   */
  add(left: number, right: number): number {
    if (!seqLt(left, right)) return 0;
    const lefts = this.lefts;
    const rights = this.rights;
    // First range whose right edge reaches `left` (touching counts: merge).
    let i = 0;
    while (i < lefts.length && seqLt(rights[i]!, left)) i++;
    // Ranges i..j-1 overlap or touch the new block.
    let j = i;
    let covered = 0;
    let newLeft = left;
    let newRight = right;
    while (j < lefts.length && seqLe(lefts[j]!, right)) {
      covered += seqDiff(rights[j]!, lefts[j]!);
      newLeft = seqMin(newLeft, lefts[j]!);
      newRight = seqMax(newRight, rights[j]!);
      j++;
    }
    const added = seqDiff(newRight, newLeft) - covered;
    if (added === 0) return 0;
    if (j === i && lefts.length >= this.maxRanges) {
      // A new separate range and no room: forget the highest one (which may
      // be the new block itself).
      this.overflows++;
      const last = lefts.length - 1;
      if (i > last) return 0;
      this.total -= seqDiff(rights[last]!, lefts[last]!);
      lefts.pop();
      rights.pop();
    }
    lefts.splice(i, j - i, newLeft);
    rights.splice(i, j - i, newRight);
    this.total += added;
    return added;
  }

  /** A cumulative ACK moved SND.UNA to `una`: forget what lies below it. */
  advance(una: number): void {
    const lefts = this.lefts;
    const rights = this.rights;
    let drop = 0;
    while (drop < lefts.length && seqLe(rights[drop]!, una)) {
      this.total -= seqDiff(rights[drop]!, lefts[drop]!);
      drop++;
    }
    if (drop > 0) {
      lefts.splice(0, drop);
      rights.splice(0, drop);
    }
    if (lefts.length > 0 && seqLt(lefts[0]!, una)) {
      this.total -= seqDiff(una, lefts[0]!);
      lefts[0] = una;
    }
  }

  /** If `seq` is SACKed, the right edge of its range; otherwise undefined. */
  sackedUntil(seq: number): number | undefined {
    for (let i = 0; i < this.lefts.length; i++) {
      if (seqLt(seq, this.lefts[i]!)) return undefined;
      if (seqLt(seq, this.rights[i]!)) return this.rights[i];
    }
    return undefined;
  }

  /** The left edge of the first SACKed range starting after `seq`; undefined if none. */
  nextSackedAfter(seq: number): number | undefined {
    for (let i = 0; i < this.lefts.length; i++) {
      if (seqGt(this.lefts[i]!, seq)) return this.lefts[i];
    }
    return undefined;
  }

  /** The first byte at or after `seq` that is not SACKed. */
  firstUnsacked(seq: number): number {
    let s = seq;
    for (let i = 0; i < this.lefts.length; i++) {
      if (seqLt(s, this.lefts[i]!)) break;
      if (seqLt(s, this.rights[i]!)) s = this.rights[i]!;
    }
    return s;
  }

  /** SACKed bytes within [from, to). */
  sackedIn(from: number, to: number): number {
    if (!seqLt(from, to)) return 0;
    let n = 0;
    for (let i = 0; i < this.lefts.length; i++) {
      const l = this.lefts[i]!;
      const r = this.rights[i]!;
      if (seqGe(l, to)) break;
      if (seqLe(r, from)) continue;
      n += seqDiff(seqMin(r, to), seqMax(l, from));
    }
    return n;
  }

  /**
   * RFC 6675 IsLost() as a boundary: an un-SACKed byte is lost when at least
   * `dupThresh` discontiguous SACKed ranges lie above it, or more than
   * (dupThresh - 1) * smss SACKed bytes. Both counts only grow as the byte
   * gets lower, so the lost bytes are exactly the un-SACKed ones below the
   * returned edge (the left edge of a range; `una` when nothing is lost).
   */
  lostBoundary(una: number, dupThresh: number, smss: number): number {
    let bytes = 0;
    let count = 0;
    for (let i = this.lefts.length - 1; i >= 0; i--) {
      bytes += seqDiff(this.rights[i]!, this.lefts[i]!);
      count++;
      if (count >= dupThresh || bytes > (dupThresh - 1) * smss) return seqMax(this.lefts[i]!, una);
    }
    return una;
  }
}
