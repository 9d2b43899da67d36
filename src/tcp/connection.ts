/**
 * The Transmission Control Block (RFC 9293 §3.3.1) and the application's
 * side of a connection (the TcpConnection contract of api.ts).
 *
 * The TCB's fields carry the RFC's names. Segment arrival lives in
 * segment-arrives.ts, "what to send now" in output.ts and the timers in
 * timers.ts; this file holds the state, the user calls of RFC 9293 §3.10
 * (SEND, RECEIVE, CLOSE as `shutdown`, ABORT) and the state changes that
 * several of those paths share.
 */
import type { Ipv4Address } from '../ip/address.ts';
import { formatIpv4 } from '../ip/address.ts';
import { StackError } from '../errors.ts';
import type { ConnectionEvents, TcpConnection, TcpInfo, TcpState } from './api.ts';
import { connectionName, type TcpTracer } from './trace.ts';
import { Assembler } from './buffers/assembler.ts';
import { RingBuffer } from './buffers/ring-buffer.ts';
import type { TcpConfig } from './config.ts';
import type { CongestionControl } from './congestion/congestion-control.ts';
import { createCongestionControl } from './congestion/registry.ts';
import type { Listener } from './listener.ts';
import type { SackBlock } from './options.ts';
import type { TcpView } from './segment.ts';
import { detachConnection } from './orphan.ts';
import type { ChallengeAckLimiter } from './rfc5961.ts';
import { NO_SACK_BLOCKS } from './sack-blocks.ts';
import { LossRecovery, recoveryInfo } from './loss-recovery.ts';
import { MAX_WINDOW, output, sendReset, windowUpdateDue } from './output.ts';
import { RttEstimator } from './rto.ts';
import { seqDiff } from './seq.ts';
import type { TcpStats } from './stats.ts';
import { ConnectionTimers, armTimeWaitTimer, restartKeepAliveTimer } from './timers.ts';

/** RFC 9293 §3.7.1: the send MSS when the peer sent no MSS option. */
export const DEFAULT_MSS = 536;
/**
 * The smallest peer MSS we honour (Linux's TCP_MIN_MSS): an MSS option of a
 * few bytes would have us cut the stream into absurdly small segments.
 */
export const MIN_MSS = 88;
/**
 * Bytes of TCP options in every data segment without timestamps. With them
 * it is 12 per connection: see `Connection.dataOptionsLength`.
 */
export const DATA_SEGMENT_OPTIONS_LENGTH = 0;

/** What a connection needs from the stack that owns it. */
export interface ConnectionHost {
  readonly config: TcpConfig;
  readonly stats: TcpStats;
  /**
   * Segmentation offload (src/link/offload.ts): the largest TCP super-packet
   * the link takes, 0 if none. With it, output() sends runs of full segments
   * as one packet, and data segments with a partial checksum.
   */
  readonly offloadMaxSize: number;
  /** `offload`: the packet's offload word (0: an ordinary packet). */
  transmit(packet: Uint8Array, offload?: number): void;
  /** The TCB is deleted: drop it from the table, the timer set and any listener queue. */
  release(conn: Connection): void;
  /** The connection armed a timer; nextDeadline() must see it. */
  timerArmed(conn: Connection): void;
  /**
   * output() owes a pure ACK: true if the host takes it to send at the end of
   * the current batch of input (Tcp.beginBatch), false to send it now.
   */
  deferAck?(conn: Connection): boolean;
  /** Stack-wide budget of RFC 5961 challenge ACKs (rfc5961.ts). */
  readonly challengeAckLimiter: ChallengeAckLimiter;
  /** `tuntcp serve --trace`: told of state changes and timer firings when set. */
  readonly tracer?: TcpTracer | null;
}

export interface ConnectionInit {
  host: ConnectionHost;
  localAddress: Ipv4Address;
  localPort: number;
  remoteAddress: Ipv4Address;
  remotePort: number;
  iss: number;
  /** The MSS we advertise (MTU - 40). */
  advMss: number;
  rcvBuf: number;
  sndBuf: number;
  noDelay: boolean;
  /** The listener this connection came from (passive open), if any. */
  listener: Listener | null;
  /** Registered congestion control name (congestion/registry.ts); the stack's default if absent. */
  congestionControl?: string | undefined;
}

// Pending application events, delivered after the TCB is consistent again.
const EV_ESTABLISHED = 1;
const EV_READABLE = 2;
const EV_WRITABLE = 4;
const EV_END = 8;
const EV_CLOSE = 16;
const EV_ACCEPTABLE = 32;

const NO_EVENTS: ConnectionEvents = {
  onEstablished() {},
  onReadable() {},
  onWritable() {},
  onEnd() {},
  onClose() {},
};

export class Connection implements TcpConnection {
  private currentState: TcpState = 'CLOSED';
  get state(): TcpState {
    return this.currentState;
  }
  /** Every state change passes here, so a tracer sees each one exactly once. */
  set state(next: TcpState) {
    const from = this.currentState;
    if (next === from) return;
    this.currentState = next;
    const tracer = this.host.tracer;
    if (tracer) {
      tracer({ event: 'state', conn: connectionName(this.localAddress, this.localPort, this.remoteAddress, this.remotePort), from, to: next });
    }
  }
  readonly localAddress: Ipv4Address;
  readonly localPort: number;
  readonly remoteAddress: Ipv4Address;
  readonly remotePort: number;
  readonly host: ConnectionHost;
  /** Opened by a listener (passive OPEN) rather than connect(). */
  readonly passive: boolean;
  /** Set while the connection sits in its listener's SYN or accept queue. */
  listener: Listener | null;

  // -- Send sequence space (RFC 9293 §3.3.1) --
  iss: number;
  sndUna: number;
  sndNxt: number;
  /**
   * Highest sequence number sent. SND.NXT rewinds to SND.UNA on a
   * retransmission timeout (go-back-N); ACKs up to SND.MAX stay acceptable.
   */
  sndMax: number;
  /** Below this, a segment is a retransmission (set to SND.MAX on each RTO). */
  sndRtxEnd: number;
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  /** Largest window the peer ever offered (sender SWS avoidance). */
  maxSndWnd = 0;
  /** RFC 7323 window scaling: Snd.Wind.Shift and Rcv.Wind.Shift, 0 unless negotiated (syn-options.ts). */
  sndWndShift = 0;
  rcvWndShift = 0;

  // -- RFC 7323 and RFC 2018 (syn-options.ts, segment-options.ts, timestamps.ts, sack-blocks.ts) --
  /** Window scaling in use (before the handshake settles: offered). */
  wsEnabled = false;
  /** Timestamps in use (before the handshake settles: offered): TSopt on every non-RST segment. */
  tsEnabled = false;
  /** SACK negotiated (RFC 2018 §2: both SYNs carried SACK-permitted; before that: offered). */
  sackPermitted = false;
  /** Added to our millisecond clock to make TSval (RFC 7323 §7.1). */
  tsOffset = 0;
  /** TS.Recent (RFC 7323 §4.3) and the `now` it was recorded at (for §5.5). */
  tsRecent = 0;
  tsRecentStamp = 0;
  /** When we last answered a segment PAWS dropped (rate limit, timestamps.ts). */
  pawsAckedAt = -Infinity;
  /** Last.ACK.sent (RFC 7323 §4.3): RCV.NXT as carried by our latest ACK. */
  lastAckSent = 0;
  /** The Timestamps option of the segment being processed: TSval, TSecr valid when segHasTs. */
  segHasTs = false;
  segTsVal = 0;
  segTsEcr = 0;
  /**
   * SACK blocks of the segment being processed (RFC 2018), as they arrived:
   * absolute sequence numbers, not validated, the first possibly a D-SACK
   * (RFC 2883). Empty when it carried none or SACK is not in use. Set before
   * the ACK step, for the sender's scoreboard.
   */
  peerSackBlocks: readonly SackBlock[] = NO_SACK_BLOCKS;
  /** RFC 2883: a duplicate range our next ACK reports first. */
  dsack: SackBlock | null = null;
  /** Bytes of options in every data segment: 12 with timestamps (RFC 7323 §3.2, RFC 6691). */
  dataOptionsLength = DATA_SEGMENT_OPTIONS_LENGTH;
  /** detach() was called: orphaned, as after close(2) (orphan.ts). */
  detached = false;
  /** shutdown() was called: a FIN follows the data in the send ring. */
  finQueued = false;
  finSent = false;
  /** Sequence number our FIN occupies (valid once finSent). */
  finSeq = 0;
  /** A zero-window probe byte beyond SND.NXT is outstanding (its ACK is acceptable). */
  probeOutstanding = false;

  // -- Receive sequence space --
  irs = 0;
  rcvNxt = 0;
  /** Right edge of the window we last advertised: RCV.NXT + RCV.WND at that time. */
  rcvAdv = 0;
  finReceived = false;
  /** The peer's FIN seen beyond a gap; processed when RCV.NXT reaches it. */
  oooFinSeq: number | null = null;

  // -- Segment sizes --
  /** Effective send MSS: min(peer's MSS option or 536, MTU - 40). */
  mss = DEFAULT_MSS;
  readonly advMss: number;
  /** Largest segment seen from the peer (delayed ACK's "full-sized"), as Linux's rcv_mss. */
  rcvMss: number;

  readonly sndBuf: RingBuffer;
  readonly rcvBuf: RingBuffer;
  readonly assembler: Assembler;

  // -- Retransmission --
  readonly rtt: RttEstimator;
  cc: CongestionControl;
  /** Duplicate ACKs, fast retransmit, NewReno and SACK recovery (loss-recovery.ts). */
  readonly recovery: LossRecovery;
  readonly timers = new ConnectionTimers();
  /** This connection's place in the stack's timer queue (timer-queue.ts), -1 when not queued. */
  timerSlot = -1;
  /** Consecutive timeouts of the oldest outstanding segment (or SYN). */
  retransmits = 0;
  totalRetransmits = 0;
  synRetransmitted = false;
  /** Karn: the one segment being timed; never a retransmitted one. */
  rttTiming = false;
  rttSeq = 0;
  rttStart = 0;
  /** An acceptable ACK arrived since the last retransmission timeout. */
  ackedSinceTimeout = false;
  /** Current persist interval (0 = start from the RTO next time). */
  persistInterval = 0;
  persistProbesUnanswered = 0;
  /** Zero-window probes since the persist timer started, answered or not (Linux icsk_backoff): bounds an orphan. */
  persistProbes = 0;

  // -- ACK generation --
  /** An ACK must go out now (out-of-order data, gap filled, FIN, unacceptable segment, ...). */
  ackNow = false;
  /** In-order bytes received since we last sent an ACK. */
  rcvUnacked = 0;
  /** The last in-order segment carried PSH: the peer has nothing more queued right now. */
  rcvPushed = false;
  /**
   * We answer what we receive with data (request/response): delayed ACKs then
   * ride on our replies (Linux's "pingpong" mode). Cleared when the
   * delayed-ACK timer has to fire on its own.
   */
  interactive = false;
  /** When in-order text last arrived. */
  lastDataReceived = -Infinity;
  /** When we last answered an unacceptable segment with a duplicate ACK (its rate limit, segment-arrives.ts). */
  lastOutOfWindowAck = -Infinity;

  // -- Options the application set --
  noDelay: boolean;
  cork = false;
  /** Uncorked: the partial tail goes out on the next output() even under Nagle. */
  pushPending = false;
  keepAliveEnabled = false;
  keepAliveIdleMs: number;
  keepAliveProbesSent = 0;

  bytesReceived = 0;
  bytesSent = 0;

  // -- Events --
  private eventSink: ConnectionEvents = NO_EVENTS;
  private eventsAssigned = false;
  private pending = 0;
  private closeError: StackError | null = null;
  private closeQueued = false;
  private dispatching = false;
  private closeDelivered = false;
  private released = false;
  private endQueued = false;
  /** write() throws EPIPE: after shutdown(), abort(), a reset or a timeout. */
  private writeClosed = false;

  constructor(init: ConnectionInit) {
    this.host = init.host;
    this.localAddress = init.localAddress;
    this.localPort = init.localPort;
    this.remoteAddress = init.remoteAddress;
    this.remotePort = init.remotePort;
    this.listener = init.listener;
    this.passive = init.listener !== null;
    this.iss = init.iss >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.sndRtxEnd = this.iss;
    this.advMss = init.advMss;
    this.mss = Math.min(DEFAULT_MSS, init.advMss);
    this.rcvMss = Math.min(DEFAULT_MSS, init.advMss);
    this.sndBuf = new RingBuffer(init.sndBuf);
    this.rcvBuf = new RingBuffer(init.rcvBuf);
    const config = init.host.config;
    this.assembler = new Assembler(config.maxOooRanges);
    this.rtt = new RttEstimator(config.initialRtoMs, config.minRtoMs, config.maxRtoMs);
    this.cc = createCongestionControl(init.congestionControl ?? config.congestionControl, this.mss);
    this.recovery = new LossRecovery(this.iss);
    this.noDelay = init.noDelay;
    this.keepAliveIdleMs = config.keepAliveIdleMs;
  }

  // ---- TcpConnection: events ------------------------------------------------

  get events(): ConnectionEvents {
    return this.eventSink;
  }

  /**
   * Assigning the handlers delivers what happened before they existed: a
   * passively opened connection may have received data, or even the FIN,
   * while it waited in the accept queue.
   */
  set events(events: ConnectionEvents) {
    this.eventSink = events;
    this.eventsAssigned = true;
    this.flushEvents();
  }

  // ---- TcpConnection: the user calls ----------------------------------------

  get writableSpace(): number {
    return this.writeClosed ? 0 : this.sndBuf.free;
  }

  get readableLength(): number {
    return this.rcvBuf.length;
  }

  /** RFC 9293 §3.10.2 SEND. Data written before ESTABLISHED is queued. */
  write(data: Uint8Array, now: number): number {
    if (this.writeClosed) {
      throw new StackError('EPIPE', 'write after the connection was shut down, reset or aborted', 'write');
    }
    const n = this.sndBuf.write(data);
    this.bytesSent += n;
    if (n > 0) output(this, now);
    this.flushEvents();
    return n;
  }

  /** RFC 9293 §3.10.3 RECEIVE; freeing space may be worth a window update. */
  read(dst: Uint8Array, now: number): number {
    const n = this.rcvBuf.read(dst);
    if (n > 0 && this.canReceiveData()) {
      if (windowUpdateDue(this)) {
        this.ackNow = true;
        output(this, now);
      } else if (this.drainedPushedData()) {
        // Due now rather than sent now: a reply the application writes
        // before the next poll still carries it.
        this.timers.delayedAck = now;
        this.host.timerArmed(this);
      }
    }
    this.flushEvents();
    return n;
  }

  /**
   * Linux's ACK-on-drain (tcp_cleanup_rbuf, ICSK_ACK_PUSHED): the application
   * consumed everything up to a PSH while an ACK was being delayed. Outside a
   * request/response exchange no reply will carry that ACK, and the sender
   * may be holding its next small segment for it (Nagle): the delayed ACK
   * becomes due at once rather than when its timer would expire. Matters most
   * with small windows.
   */
  private drainedPushedData(): boolean {
    return this.rcvPushed && !this.interactive && this.rcvBuf.length === 0 && this.timers.delayedAck !== Infinity;
  }

  /** RFC 9293 §3.10.4 CLOSE, which in TCP means "I have no more to send". */
  shutdown(now: number): void {
    switch (this.state) {
      case 'SYN-SENT':
        // RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the TCB; nothing was
        // synchronized, so no RST.
        this.writeClosed = true;
        this.terminate(null);
        break;
      case 'SYN-RECEIVED':
        // Queued: the FIN goes out once ESTABLISHED (becomeEstablished).
        this.finQueued = true;
        this.writeClosed = true;
        break;
      case 'ESTABLISHED':
        this.finQueued = true;
        this.writeClosed = true;
        this.state = 'FIN-WAIT-1';
        output(this, now);
        break;
      case 'CLOSE-WAIT':
        this.finQueued = true;
        this.writeClosed = true;
        this.state = 'LAST-ACK';
        output(this, now);
        break;
      default:
        this.writeClosed = true;
        break;
    }
    this.flushEvents();
  }

  /** RFC 9293 §3.10.5 ABORT. */
  abort(_now: number): void {
    switch (this.state) {
      case 'CLOSED':
        return;
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
      case 'FIN-WAIT-1':
      case 'FIN-WAIT-2':
      case 'CLOSE-WAIT':
        sendReset(this);
        break;
      default:
        // SYN-SENT, CLOSING, LAST-ACK, TIME-WAIT: delete the TCB, no RST.
        break;
    }
    this.sndBuf.clear();
    this.rcvBuf.clear();
    this.assembler.clear();
    this.terminate(null);
    this.flushEvents();
  }

  setNoDelay(noDelay: boolean, now: number): void {
    this.noDelay = noDelay;
    if (noDelay) output(this, now);
    this.flushEvents();
  }

  setCork(cork: boolean, now: number): void {
    const wasCorked = this.cork;
    this.cork = cork;
    if (wasCorked && !cork) {
      this.pushPending = true;
      output(this, now);
    }
    this.flushEvents();
  }

  /** As Node's socket.setKeepAlive: a delay of 0 leaves the current one (the configured idle time at first). */
  setKeepAlive(enable: boolean, initialDelayMs: number, now: number): void {
    this.keepAliveEnabled = enable;
    if (initialDelayMs > 0) this.keepAliveIdleMs = initialDelayMs;
    restartKeepAliveTimer(this, now);
  }

  /** close(2) semantics (api.ts): see orphan.ts. */
  detach(now: number): void {
    detachConnection(this, now);
    this.flushEvents();
  }

  getInfo(): TcpInfo {
    return {
      state: this.state,
      localAddress: formatIpv4(this.localAddress),
      localPort: this.localPort,
      remoteAddress: formatIpv4(this.remoteAddress),
      remotePort: this.remotePort,
      iss: this.iss,
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      sndWnd: this.sndWnd,
      irs: this.irs,
      rcvNxt: this.rcvNxt,
      rcvWnd: this.rcvWnd(),
      mss: this.mss,
      rcvMss: this.rcvMss,
      rto: this.rtt.rto,
      srtt: this.rtt.srtt,
      rttvar: this.rtt.rttvar,
      retransmits: this.retransmits,
      totalRetransmits: this.totalRetransmits,
      cwnd: this.cc.window(),
      ssthresh: this.cc.ssthresh,
      ...recoveryInfo(this),
      sndBufUsed: this.sndBuf.length,
      sndBufSize: this.sndBuf.capacity,
      rcvBufUsed: this.rcvBuf.length,
      rcvBufSize: this.rcvBuf.capacity,
      oooBytes: this.assembler.totalBytes,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      noDelay: this.noDelay,
      cork: this.cork,
      windowScaling: this.wsEnabled,
      sndWscale: this.sndWndShift,
      rcvWscale: this.rcvWndShift,
      timestamps: this.tsEnabled,
      tsRecent: this.tsRecent,
      sackPermitted: this.sackPermitted,
      dataOptionsLength: this.dataOptionsLength,
    };
  }

  // ---- shared by segment arrival, output and timers ---------------------------

  /** RCV.WND as last advertised (the acceptability test uses this, not the ring). */
  rcvWnd(): number {
    return Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
  }

  /** The window in our SYN: the empty ring, unscaled (RFC 7323 §2.2). */
  synWindow(): number {
    return Math.min(this.rcvBuf.free, MAX_WINDOW);
  }

  /** States in which data (and the FIN after it) may be sent or retransmitted. */
  canSendData(): boolean {
    const s = this.state;
    return s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-1' || s === 'CLOSING' || s === 'LAST-ACK';
  }

  /** States in which the peer may still send us data. */
  canReceiveData(): boolean {
    const s = this.state;
    return s === 'ESTABLISHED' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2';
  }

  /** Bytes in the send ring not yet sent. */
  unsentBytes(): number {
    return this.sndBuf.length - seqDiff(this.sndNxt, this.sndUna);
  }

  /**
   * Payload of a full-sized segment. The MSS less the options every data
   * segment carries (12 bytes with timestamps, RFC 6691), and at most
   * half the largest window the peer ever offered (Linux's
   * tcp_bound_to_half_wnd): with a window under two MSS, MSS-sized segments
   * would all be partial ones that Nagle holds and the receiver's delayed
   * ACK answers late; half-window segments keep two in flight.
   */
  fullSegmentSize(): number {
    const mss = this.mss - this.dataOptionsLength;
    const maxWnd = this.maxSndWnd;
    if (maxWnd === 0) return mss;
    const half = maxWnd > DEFAULT_MSS ? Math.floor(maxWnd / 2) : maxWnd;
    // A send ring that cannot hold two full segments (64 KiB at MTU 65535)
    // would otherwise leave every second segment partial: Nagle holds it for
    // an ACK the peer delays, one segment per delayed-ACK timeout. Half the
    // ring keeps two segments in flight, as the cap on the peer's window does.
    const ringHalf = Math.floor(this.sndBuf.capacity / 2);
    return Math.max(1, Math.min(mss, half, ringHalf));
  }

  /** See output.ts updatePersistTimer. */
  persistConditionHolds(): boolean {
    if (!this.canSendData() || this.timers.retransmit !== Infinity || this.sndNxt !== this.sndUna) return false;
    const unsent = this.unsentBytes();
    if (unsent <= 0) return false;
    const usable = Math.min(this.sndWnd, this.cc.window());
    return usable < Math.min(unsent, this.fullSegmentSize());
  }

  /** Records the peer's MSS option (RFC 9293 §3.7.1) from its SYN. */
  applyPeerMss(peerMss: number | undefined): void {
    const offered = peerMss === undefined ? DEFAULT_MSS : Math.max(MIN_MSS, peerMss);
    this.mss = Math.min(offered, this.advMss);
  }

  /** Our SYN was acknowledged (SYN-SENT or SYN-RECEIVED -> ESTABLISHED). */
  becomeEstablished(now: number): void {
    this.state = this.finQueued ? 'FIN-WAIT-1' : 'ESTABLISHED';
    // SMSS excludes the options every segment carries (RFC 5681 §2).
    this.cc.setMss(this.mss - this.dataOptionsLength);
    if (this.synRetransmitted) this.rtt.fallbackAfterSynRetransmit(this.host.config.initialRtoMs);
    this.retransmits = 0;
    this.host.stats.established++;
    if (!this.passive) this.pending |= EV_ESTABLISHED;
    restartKeepAliveTimer(this, now);
  }

  /** RFC 9293 §3.10.7.4: the state after our FIN and the peer's are both done. */
  enterTimeWait(now: number): void {
    this.state = 'TIME-WAIT';
    this.timers.clear();
    armTimeWaitTimer(this, now);
    this.writeClosed = true;
    // Nothing more is sent or accepted: the rings' memory can serve new connections.
    this.sndBuf.releaseStorage();
    this.rcvBuf.releaseStorage();
    this.queueClose(null);
  }

  /** The TCB is deleted and the application told why (null: orderly or our abort). */
  terminate(error: StackError | null): void {
    if (error !== null) {
      // A failed connection's queues are gone, as in Linux (tcp_done).
      this.sndBuf.clear();
      this.rcvBuf.clear();
      this.assembler.clear();
    }
    this.queueClose(error);
    this.release();
  }

  /** Deletes the TCB without telling the application anything new. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.state = 'CLOSED';
    this.writeClosed = true;
    this.timers.clear();
    this.sndBuf.releaseStorage();
    this.rcvBuf.releaseStorage();
    this.host.release(this);
  }

  markReadable(): void {
    this.pending |= EV_READABLE;
  }

  markWritable(): void {
    this.pending |= EV_WRITABLE;
  }

  markEnd(): void {
    if (this.endQueued) return;
    this.endQueued = true;
    this.pending |= EV_END;
  }

  markAcceptable(): void {
    this.pending |= EV_ACCEPTABLE;
  }

  private queueClose(error: StackError | null): void {
    if (this.closeQueued) return;
    this.closeQueued = true;
    this.closeError = error;
    this.pending |= EV_CLOSE;
  }

  /**
   * Delivers pending events, in the order a reader expects them (established,
   * readable, writable, end, close). Called at the end of every entry into the
   * connection, so handlers always see a consistent TCB and may call back in;
   * a re-entrant call only adds to `pending`, which the loop picks up.
   */
  flushEvents(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (;;) {
        if ((this.pending & EV_ACCEPTABLE) !== 0) {
          this.pending &= ~EV_ACCEPTABLE;
          const listener = this.listener;
          if (listener !== null) listener.notifyAcceptable(this);
          continue;
        }
        if (this.closeDelivered) {
          this.pending = 0;
          break;
        }
        if (!this.eventsAssigned || this.pending === 0) break;
        const sink = this.eventSink;
        if ((this.pending & EV_ESTABLISHED) !== 0) {
          this.pending &= ~EV_ESTABLISHED;
          sink.onEstablished();
        } else if ((this.pending & EV_READABLE) !== 0) {
          this.pending &= ~EV_READABLE;
          sink.onReadable();
        } else if ((this.pending & EV_WRITABLE) !== 0) {
          this.pending &= ~EV_WRITABLE;
          sink.onWritable();
        } else if ((this.pending & EV_END) !== 0) {
          this.pending &= ~EV_END;
          sink.onEnd();
        } else if ((this.pending & EV_CLOSE) !== 0) {
          // Nothing follows onClose.
          this.pending = 0;
          this.closeDelivered = true;
          sink.onClose(this.closeError);
        } else {
          this.pending = 0;
        }
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** For traces and test failures. */
  toString(): string {
    return `${formatIpv4(this.localAddress)}:${this.localPort} <-> ${formatIpv4(this.remoteAddress)}:${this.remotePort} ${this.state}`;
  }
}

/**
 * The TCB a SYN to `listener` creates (RFC 9293 §3.10.7.2), with the
 * listener's per-connection options. Passive opens and returning SYN cookies
 * both make theirs here, so the two cannot drift apart.
 */
export function newPassiveConnection(
  host: ConnectionHost,
  listener: Listener,
  local: Ipv4Address,
  remote: Ipv4Address,
  seg: TcpView,
  iss: number,
  advMss: number,
): Connection {
  const opts = listener.connectionOptions;
  return new Connection({
    host,
    localAddress: local,
    localPort: seg.dstPort,
    remoteAddress: remote,
    remotePort: seg.srcPort,
    iss,
    advMss,
    rcvBuf: opts.rcvBuf ?? host.config.rcvBuf,
    sndBuf: opts.sndBuf ?? host.config.sndBuf,
    noDelay: opts.noDelay ?? false,
    listener,
    congestionControl: opts.congestionControl,
  });
}
