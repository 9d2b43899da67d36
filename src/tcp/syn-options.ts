/**
 * Option negotiation on the SYNs: window scaling and timestamps (RFC 7323
 * §2.2, §3.2) and SACK-permitted (RFC 2018 §2). Each is in use only when
 * both SYNs carried it, so:
 *
 * - an active open offers what the configuration allows (`offerSynOptions`
 *   at connect) and keeps what the SYN-ACK confirms (`negotiateSynOptions`);
 * - a passive open starts from the same offer, keeps what the peer's SYN
 *   carried, and its SYN-ACK carries exactly that: never an option the
 *   peer did not offer.
 *
 * Until the handshake settles, the flags on the connection mean "offered";
 * afterwards they mean "in use".
 */
import type { TcpConfig } from './config.ts';
import type { Connection } from './connection.ts';
import type { TcpOptions } from './options.ts';
import { MAX_WINDOW_SCALE } from './options.ts';
import { TIMESTAMPS_OPTION_LENGTH } from './segment-options.ts';
import { recordSynTimestamp, tsClock } from './timestamps.ts';
import { receiveShift } from './window-scale.ts';

/** What we are willing to use, before hearing from the peer. `tsOffset`: see timestamps.ts. */
export function offerSynOptions(c: Connection, config: TcpConfig, tsOffset: number): void {
  c.wsEnabled = config.windowScaling !== 0;
  c.rcvWndShift = c.wsEnabled ? receiveShift(c.rcvBuf.capacity) : 0;
  c.sndWndShift = 0;
  c.tsEnabled = config.timestamps !== 0;
  c.tsOffset = tsOffset >>> 0;
  c.sackPermitted = config.sack !== 0;
  c.dataOptionsLength = 0;
}

/**
 * Keeps what the peer's SYN (passive open, simultaneous open) or SYN-ACK
 * (active open) also carried. A shift above 14 is taken as 14 (RFC 7323
 * §2.3). With timestamps, TS.Recent starts at the peer's TSval (§4.3) and
 * every data segment loses 12 bytes of payload to the option (§3.2).
 */
export function negotiateSynOptions(c: Connection, peer: TcpOptions, now: number): void {
  if (c.wsEnabled && peer.windowScale !== undefined) {
    c.sndWndShift = Math.min(peer.windowScale, MAX_WINDOW_SCALE);
  } else {
    c.wsEnabled = false;
    c.rcvWndShift = 0;
    c.sndWndShift = 0;
  }
  const ts = peer.timestamps;
  if (c.tsEnabled && ts !== undefined) {
    recordSynTimestamp(c, ts.value, now);
    c.segHasTs = true;
    c.segTsVal = ts.value >>> 0;
    c.segTsEcr = ts.echo >>> 0;
    c.dataOptionsLength = TIMESTAMPS_OPTION_LENGTH;
  } else {
    c.tsEnabled = false;
    c.segHasTs = false;
    c.dataOptionsLength = 0;
  }
  c.sackPermitted = c.sackPermitted && peer.sackPermitted === true;
  // Loss recovery keeps its own flag (loss-recovery.ts sackNegotiated).
  c.recovery.sackPermitted = c.sackPermitted;
}

/**
 * The options of our SYN or SYN-ACK. In a SYN the TSecr is 0 (RFC 7323
 * §3.2: no ACK, nothing to echo); a SYN-ACK echoes the peer's TSval.
 */
export function synOptions(c: Connection, now: number): TcpOptions {
  const options: TcpOptions = { mss: c.advMss };
  if (c.wsEnabled) options.windowScale = c.rcvWndShift;
  if (c.sackPermitted) options.sackPermitted = true;
  if (c.tsEnabled) options.timestamps = { value: tsClock(c, now), echo: c.state === 'SYN-SENT' ? 0 : c.tsRecent };
  return options;
}
