/**
 * RFC 7323 §2: the Window Scale option. Our receive ring may be far larger
 * than the 16-bit window field; the shift we announce on our SYN (or
 * SYN-ACK) lets the peer read every later window field as field << shift.
 *
 * Negotiation itself (both SYNs must carry the option) is in syn-options.ts;
 * this file holds the arithmetic: which shift to announce, and how a window
 * becomes a field without ever moving the right edge the peer has seen to
 * the left.
 */
import type { Connection } from './connection.ts';
import { MAX_WINDOW_SCALE } from './options.ts';
import { seqAdd, seqDiff, seqMax } from './seq.ts';

/** The largest value of the 16-bit window field. */
const MAX_FIELD = 65535;

/**
 * The shift for a receive ring of `capacity` bytes, as Linux chooses it
 * (tcp_select_initial_window): ilog2(space) - 15, within [0, 14]. Linux
 * takes the largest buffer autotuning could grow to; our rings have a fixed
 * capacity, so the ring itself is the space. A 64 KiB ring gets shift 1
 * (65536 does not fit in 16 bits), 1 MiB gets 5, 4 MiB gets 7.
 */
export function receiveShift(capacity: number): number {
  if (!(capacity > MAX_FIELD)) return 0;
  const log2 = Math.floor(Math.log2(capacity));
  return Math.min(MAX_WINDOW_SCALE, Math.max(0, log2 - 15));
}

/**
 * The ring capacity a `rcvBuf` request turns into (RingBuffer rounds up to a
 * power of two). The SYN-cookie path needs it before any ring exists, to
 * announce the same shift the connection will later use.
 */
export function ringCapacityFor(rcvBuf: number): number {
  let cap = 1;
  while (cap < rcvBuf) cap *= 2;
  return cap;
}

/**
 * The window field for a non-SYN segment advertising `window` bytes
 * (RFC 7323 §2.3: SEG.WND = RCV.WND >> Rcv.Wind.Shift).
 *
 * Shifting rounds down, so after RCV.NXT moved by an amount that is not a
 * multiple of 2^shift, the field would show the peer a right edge up to
 * 2^shift - 1 bytes left of the one it saw before: a shrinking window
 * (RFC 7323 §2.4). Linux avoids that by rounding up (tcp_select_window,
 * ALIGN to the scale) and we do the same whenever the ring can hold the
 * extra bytes, moving RCV.ADV (our record of the edge) to what the peer now
 * sees, so that everything it may send is acceptable (§2.4 rule 1). Only when
 * the ring is nearly full do we round down as §2.3 says; our acceptance test
 * still honours the larger edge we recorded (§2.4 rule 2), so nothing the
 * peer sent in good faith is refused.
 */
export function windowField(c: Connection, window: number): number {
  const shift = c.rcvWndShift;
  if (shift === 0) return Math.min(window, MAX_FIELD);
  let field = window >>> shift;
  if (field >= MAX_FIELD) return MAX_FIELD;
  if (window > 0 && field << shift !== window && window === seqDiff(c.rcvAdv, c.rcvNxt)) {
    const up = (field + 1) << shift;
    if (up <= c.rcvBuf.free) {
      field += 1;
      c.rcvAdv = seqMax(c.rcvAdv, seqAdd(c.rcvNxt, up));
    }
  }
  return field;
}

/** SND.WND from a window field (RFC 7323 §2.3); the window of a SYN is never scaled (§2.2). */
export function peerWindow(c: Connection, field: number, syn: boolean): number {
  return syn ? field : field << c.sndWndShift;
}
