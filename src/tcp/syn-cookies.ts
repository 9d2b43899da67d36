/**
 * SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full (or
 * always, with `synCookies: 2`), the SYN-ACK's sequence number carries the
 * state we would otherwise keep, authenticated with a keyed hash, and no
 * state is kept at all. A returning ACK whose SEG.ACK - 1 is a valid cookie
 * re-creates the connection straight into the accept queue.
 *
 * The cookie is laid out as Linux's (net/ipv4/syncookies.c):
 *
 *   cookie = H1(tuple) + SEG.SEQ(of the SYN) + (count << 24)
 *          + ((H2(tuple, count, SEG.SEQ) + mssIndex) mod 2^24)
 *
 * where `count` is a 60-second counter. H1 hides the counter; H2 makes the
 * low 24 bits unforgeable without the key; a cookie is valid for one to two
 * minutes (the current or the previous count). Only the MSS survives in the
 * ISN, as an index into a table of common values, rounded down. (Unlike
 * Linux, H2 also covers the SYN's sequence number: otherwise an ACK whose
 * SEG.SEQ is off by one would decode as the neighbouring MSS index.)
 *
 * The other SYN options survive only if the peer uses timestamps: the low 6
 * bits of our SYN-ACK's TSval then carry the peer's window shift (15 =
 * none) and SACK-permitted (bit 4), and come back as the ACK's TSecr
 * (Linux's cookie_init_timestamp). Without timestamps the SYN-ACK offers
 * neither window scaling nor SACK, since nothing could remember them.
 *
 * A forged or expired cookie ACK is answered as any ACK to a listener is,
 * with an RST (RFC 9293 §3.10.7.2), which is also what Linux does: a genuine
 * client whose cookie expired learns at once to retry, and an attacker
 * learns nothing it could not learn with any ACK. It is counted in
 * `cookiesRejected`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Ipv4Address } from '../ip/address.ts';
import type { ConnectionHost } from './connection.ts';
import { Connection, DEFAULT_MSS, MIN_MSS, newPassiveConnection } from './connection.ts';
import { ACK, SYN } from './flags.ts';
import type { Listener } from './listener.ts';
import type { TcpOptions } from './options.ts';
import { MAX_WINDOW_SCALE } from './options.ts';
import type { TcpView } from './segment.ts';
import { buildTcpPacket } from './segment.ts';
import { segmentArrives } from './segment-arrives.ts';
import { TIMESTAMPS_OPTION_LENGTH } from './segment-options.ts';
import { seqAdd, seqDiff } from './seq.ts';
import { negotiateSynOptions, offerSynOptions } from './syn-options.ts';
import type { TsOffsetGenerator } from './timestamps.ts';
import { receiveShift, ringCapacityFor } from './window-scale.ts';

/** Linux's msstab for IPv4: the MSS a cookie can remember, rounded down to one of these. */
export const COOKIE_MSS_TABLE: readonly number[] = [536, 1300, 1440, 1460];
/** Linux's TCP_SYNCOOKIE_PERIOD. */
export const COOKIE_PERIOD_MS = 60_000;
/** A cookie from the current or the previous period is accepted (Linux MAX_SYNCOOKIE_AGE). */
const COOKIE_MAX_AGE = 2;
const COUNT_SHIFT = 24;
const LOW_MASK = (1 << COUNT_SHIFT) - 1;

/** Bits of TSval that carry options (Linux TSBITS), and their layout. */
const TS_BITS = 6;
const TS_MASK = (1 << TS_BITS) - 1;
const TS_WSCALE_NONE = 0xf;
const TS_SACK = 0x10;
const TS_ECN = 0x20;

/** The keyed hashes. One secret per stack instance. */
export class SynCookieJar {
  private readonly key: Uint8Array;
  private readonly scratch = new Uint8Array(21);
  private readonly view: DataView;
  /** When each listener last had to answer with a cookie. */
  private readonly lastSent = new WeakMap<Listener, number>();

  constructor(secret: Uint8Array = randomBytes(32)) {
    if (secret.length < 16) throw new RangeError('SYN cookie secret must be at least 16 bytes');
    this.key = Uint8Array.from(secret);
    this.view = new DataView(this.scratch.buffer);
  }

  /** The cookie ISN for a SYN from `remote` carrying `synSeq`. */
  make(local: Ipv4Address, localPort: number, remote: Ipv4Address, remotePort: number, synSeq: number, mssIndex: number, now: number): number {
    const count = periodAt(now);
    const h1 = this.hash(0, local, localPort, remote, remotePort, 0, 0);
    const h2 = this.hash(1, local, localPort, remote, remotePort, count, synSeq);
    const low = (h2 + mssIndex) & LOW_MASK;
    return (h1 + synSeq + ((count & 0xff) << COUNT_SHIFT) + low) >>> 0;
  }

  /**
   * Checks `cookie` (SEG.ACK - 1) for a connection whose SYN carried
   * `synSeq` (SEG.SEQ - 1). Returns the MSS index, or -1 when the cookie is
   * forged or expired.
   */
  check(local: Ipv4Address, localPort: number, remote: Ipv4Address, remotePort: number, synSeq: number, cookie: number, now: number): number {
    const h1 = this.hash(0, local, localPort, remote, remotePort, 0, 0);
    const x = (cookie - h1 - synSeq) >>> 0;
    const nowCount = periodAt(now);
    const age = (nowCount - (x >>> COUNT_SHIFT)) & 0xff;
    if (age >= COOKIE_MAX_AGE) return -1;
    const h2 = this.hash(1, local, localPort, remote, remotePort, nowCount - age, synSeq);
    const index = ((x & LOW_MASK) - h2) & LOW_MASK;
    return index < COOKIE_MSS_TABLE.length ? index : -1;
  }

  noteSent(listener: Listener, now: number): void {
    this.lastSent.set(listener, now);
  }

  /**
   * Linux validates cookie ACKs only while the listener recently sent
   * cookies (tcp_synq_no_recent_overflow): otherwise every stray ACK would
   * cost two hashes, and an attacker could try forged cookies at leisure.
   */
  recentlySent(listener: Listener, now: number): boolean {
    const t = this.lastSent.get(listener);
    return t !== undefined && now - t < COOKIE_MAX_AGE * COOKIE_PERIOD_MS;
  }

  private hash(which: number, local: Ipv4Address, localPort: number, remote: Ipv4Address, remotePort: number, count: number, synSeq: number): number {
    const v = this.view;
    v.setUint8(0, which);
    v.setUint32(1, local >>> 0);
    v.setUint16(5, localPort);
    v.setUint32(7, remote >>> 0);
    v.setUint16(11, remotePort);
    v.setUint32(13, count >>> 0);
    v.setUint32(17, synSeq >>> 0);
    return createHmac('sha256', this.key).update(this.scratch).digest().readUInt32BE(0);
  }
}

function periodAt(now: number): number {
  return Math.floor(now / COOKIE_PERIOD_MS) >>> 0;
}

/** The largest table entry not above `mss` (index 0 for anything smaller, as Linux). */
export function cookieMssIndex(mss: number): number {
  for (let i = COOKIE_MSS_TABLE.length - 1; i > 0; i--) if (mss >= COOKIE_MSS_TABLE[i]!) return i;
  return 0;
}

/** The 6 option bits of a cookie TSval. */
export function encodeCookieOptions(peerShift: number | undefined, sack: boolean): number {
  return (peerShift === undefined ? TS_WSCALE_NONE : Math.min(peerShift, MAX_WINDOW_SCALE)) | (sack ? TS_SACK : 0);
}

/**
 * The TSval of a cookie SYN-ACK: our clock (without offset) with its low
 * bits replaced by the options, moved back one step if that put it in the
 * future, so that our timestamps never run backwards for the peer's PAWS.
 */
export function cookieTimestamp(rawClock: number, bits: number): number {
  let ts = ((rawClock >>> TS_BITS) << TS_BITS) >>> 0;
  ts = (ts | bits) >>> 0;
  if (seqDiff(ts, rawClock) > 0) ts = seqAdd(ts, -(1 << TS_BITS));
  return ts;
}

/** Options from a returning TSecr (offset removed); null when they cannot be ours. */
export function decodeCookieOptions(rawEcho: number, allowWindowScaling: boolean, allowSack: boolean): { peerShift: number | undefined; sack: boolean } | null {
  const bits = rawEcho & TS_MASK;
  if ((bits & TS_ECN) !== 0) return null;
  const ws = bits & TS_WSCALE_NONE;
  const sack = (bits & TS_SACK) !== 0;
  if (ws !== TS_WSCALE_NONE && (!allowWindowScaling || ws > MAX_WINDOW_SCALE)) return null;
  if (sack && !allowSack) return null;
  return { peerShift: ws === TS_WSCALE_NONE ? undefined : ws, sack };
}

/** What the cookie path needs from the stack (tcp.ts). */
export interface CookieContext {
  readonly host: ConnectionHost;
  readonly advMss: number;
  readonly jar: SynCookieJar;
  readonly tsOffset: TsOffsetGenerator;
  readonly connectionCount: () => number;
  addConnection(conn: Connection): void;
}

const MAX_WINDOW = 65535;

function listenerRcvBuf(ctx: CookieContext, listener: Listener): number {
  return listener.connectionOptions.rcvBuf ?? ctx.host.config.rcvBuf;
}

/** Answers a SYN to `listener` with a cookie SYN-ACK, keeping no state. */
export function sendCookieSynAck(ctx: CookieContext, listener: Listener, local: Ipv4Address, remote: Ipv4Address, seg: TcpView, now: number): void {
  const config = ctx.host.config;
  const stats = ctx.host.stats;
  const peer = seg.options();
  const peerMss = peer.mss === undefined ? DEFAULT_MSS : Math.max(MIN_MSS, peer.mss);
  const mssIndex = cookieMssIndex(peerMss);
  const cookie = ctx.jar.make(local, seg.dstPort, remote, seg.srcPort, seg.seq, mssIndex, now);
  const capacity = ringCapacityFor(listenerRcvBuf(ctx, listener));
  const options: TcpOptions = { mss: ctx.advMss };
  const withTs = config.timestamps !== 0 && peer.timestamps !== undefined;
  if (withTs) {
    const ws = config.windowScaling !== 0 && peer.windowScale !== undefined;
    const sack = config.sack !== 0 && peer.sackPermitted === true;
    const offset = ctx.tsOffset(local, remote);
    const raw = cookieTimestamp(Math.floor(now) >>> 0, encodeCookieOptions(ws ? peer.windowScale : undefined, sack));
    if (ws) options.windowScale = receiveShift(capacity);
    if (sack) options.sackPermitted = true;
    options.timestamps = { value: seqAdd(raw, offset), echo: peer.timestamps!.value };
  }
  // The same window a stateful SYN-ACK would offer: the empty ring, unscaled
  // (RFC 7323 §2.2), in whole segments.
  const segment = Math.min(peerMss, ctx.advMss) - (withTs ? TIMESTAMPS_OPTION_LENGTH : 0);
  let window = Math.min(capacity, MAX_WINDOW);
  if (window >= segment) window -= window % segment;
  const packet = buildTcpPacket(
    { src: local, dst: remote },
    { srcPort: seg.dstPort, dstPort: seg.srcPort, seq: cookie, ack: seqAdd(seg.seq, 1), flags: SYN | ACK, window, options },
  );
  ctx.jar.noteSent(listener, now);
  stats.cookiesSent++;
  stats.segmentsOut++;
  ctx.host.transmit(packet);
}

/**
 * An ACK arrived for `listener`. Returns true when it carried a valid cookie
 * and was consumed (the connection now exists, or was dropped because the
 * accept queue or the connection table is full, as Linux drops it); false
 * when it is no cookie of ours, and the caller answers as RFC 9293 says.
 */
export function acceptCookieAck(ctx: CookieContext, listener: Listener, local: Ipv4Address, remote: Ipv4Address, seg: TcpView, now: number): boolean {
  const config = ctx.host.config;
  const stats = ctx.host.stats;
  if (config.synCookies === 0 || seg.rst || seg.syn || !seg.hasAck) return false;
  if (config.synCookies !== 2 && !ctx.jar.recentlySent(listener, now)) return false;
  const cookie = seqAdd(seg.ack, -1);
  const mssIndex = ctx.jar.check(local, seg.dstPort, remote, seg.srcPort, seqAdd(seg.seq, -1), cookie, now);
  if (mssIndex < 0) {
    stats.cookiesRejected++;
    return false;
  }
  const offset = ctx.tsOffset(local, remote);
  const arrived = seg.options();
  const peer: TcpOptions = {};
  if (config.timestamps !== 0 && arrived.timestamps !== undefined) {
    const decoded = decodeCookieOptions(seqAdd(arrived.timestamps.echo, -offset), config.windowScaling !== 0, config.sack !== 0);
    if (decoded === null) {
      stats.cookiesRejected++;
      return false;
    }
    peer.timestamps = arrived.timestamps;
    if (decoded.peerShift !== undefined) peer.windowScale = decoded.peerShift;
    if (decoded.sack) peer.sackPermitted = true;
  }
  stats.cookiesValidated++;
  if (!listener.hasRoomInAcceptQueue()) {
    listener.recordAcceptQueueOverflow();
    stats.acceptQueueOverflows++;
    return true;
  }
  if (ctx.connectionCount() >= config.maxConnections) {
    stats.connectionTableFull++;
    return true;
  }
  const conn = newPassiveConnection(ctx.host, listener, local, remote, seg, cookie, ctx.advMss);
  // The TCB as it would be had we kept it: SYN-RECEIVED, our SYN-ACK sent,
  // the window it offered recorded. The ACK itself then completes the
  // handshake through the ordinary path (and any data on it is kept).
  conn.state = 'SYN-RECEIVED';
  conn.irs = seqAdd(seg.seq, -1);
  conn.rcvNxt = seg.seq;
  conn.sndNxt = seqAdd(cookie, 1);
  conn.sndMax = conn.sndNxt;
  conn.applyPeerMss(COOKIE_MSS_TABLE[mssIndex]);
  offerSynOptions(conn, config, offset);
  negotiateSynOptions(conn, peer, now);
  conn.rcvAdv = seqAdd(conn.rcvNxt, Math.min(conn.rcvBuf.capacity, MAX_WINDOW));
  conn.lastAckSent = conn.rcvNxt;
  ctx.addConnection(conn);
  segmentArrives(conn, seg, now);
  if (conn.state === 'SYN-RECEIVED') conn.release();
  conn.flushEvents();
  return true;
}
