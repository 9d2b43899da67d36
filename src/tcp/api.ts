/**
 * The contract between the TCP core (src/tcp) and what sits on top of it
 * (the socket API in src/socket, the packetdrill interpreter, tests).
 *
 * The core is sans-I/O: every call that can make the core send a packet takes
 * the current time `now` (milliseconds, from any monotonic origin; fractions
 * allowed). Packets leave through the transmit callback the core was built
 * with, synchronously, during the call. Events go back up through
 * `ConnectionEvents`, also synchronously: a handler must not re-enter the same
 * connection in a way that assumes the event already finished (the socket
 * layer defers its own work with queueMicrotask/process.nextTick where Node's
 * streams need it).
 */
import type { Ipv4Address } from '../ip/address.ts';
import type { StackError } from '../errors.ts';

/** RFC 9293 §3.3.2 states, spelled as the RFC spells them. */
export type TcpState =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT';

/** Per-connection tunables; every field has a stack-wide default (TcpConfig). */
export interface ConnectionOptions {
  /** Receive ring capacity in bytes (the most we ever advertise). */
  rcvBuf?: number;
  /** Send ring capacity in bytes (unacknowledged + unsent). */
  sndBuf?: number;
  /** Disables Nagle's algorithm (RFC 9293 §3.7.4) when true. */
  noDelay?: boolean;
  /**
   * Congestion control algorithm, by registered name (src/tcp/congestion/
   * registry.ts): 'newreno' (RFC 5681/6582) or 'cubic' (RFC 9438), or any
   * name registered since. Default: TcpConfig.congestionControl.
   */
  congestionControl?: CongestionControlName;
}

/** The built-in algorithms; the `string & {}` keeps room for registered ones. */
export type CongestionControlName = 'newreno' | 'cubic' | (string & {});

export interface ConnectionEvents {
  /** Active open completed (SYN-SENT -> ESTABLISHED). */
  onEstablished(): void;
  /** New in-order bytes are in the receive ring. */
  onReadable(): void;
  /** Space was freed in the send ring (bytes were acknowledged). */
  onWritable(): void;
  /**
   * The peer's FIN arrived and every byte before it is in the receive ring:
   * once the ring is drained the stream has ended. Called at most once.
   */
  onEnd(): void;
  /**
   * The connection will not produce any more events. `error` is null for an
   * orderly close (both FINs exchanged and acknowledged, or our own abort),
   * otherwise ECONNREFUSED (RST answering our SYN), ECONNRESET (RST in a
   * synchronized state), ETIMEDOUT (retransmissions exhausted). Called once.
   */
  onClose(error: StackError | null): void;
}

export interface TcpInfo {
  state: TcpState;
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  /** Send sequence space, absolute 32-bit values. */
  iss: number;
  sndUna: number;
  sndNxt: number;
  /** Peer's advertised window (already scaled), bytes. */
  sndWnd: number;
  /** Receive sequence space. */
  irs: number;
  rcvNxt: number;
  /** Window we currently advertise, bytes. */
  rcvWnd: number;
  /** Maximum segment size we send with. */
  mss: number;
  /** The peer's full-sized segment as we measured it (Linux rcv_mss): delayed ACKs and window rounding use it. */
  rcvMss: number;
  /** Retransmission timeout (ms), smoothed RTT and its variance (ms; 0 before a sample). */
  rto: number;
  srtt: number;
  rttvar: number;
  /** Consecutive retransmissions of the oldest unacknowledged segment. */
  retransmits: number;
  /** Total segments retransmitted on this connection. */
  totalRetransmits: number;
  /** Congestion window and slow-start threshold in bytes, from the congestion control algorithm. */
  cwnd: number;
  ssthresh: number;
  /** The algorithm's registered name ('newreno', 'cubic', ...). */
  congestionControl: string;
  /** Loss recovery under way: 'none', 'newreno' (RFC 6582) or 'sack' (RFC 6675). */
  recovery: 'none' | 'newreno' | 'sack';
  /** Recoveries entered on duplicate ACKs or SACK, each starting with a fast retransmit. */
  fastRetransmits: number;
  /** Of those, driven by the SACK scoreboard (RFC 6675). */
  sackRecoveries: number;
  /** Retransmission timer expiries with data outstanding. */
  rtoTimeouts: number;
  /** Payload bytes sent again, by any of the above. */
  retransmittedBytes: number;
  /** Bytes above SND.UNA the peer reports holding (SACK), now. */
  sackedBytes: number;
  /** Bytes presumed lost now (RFC 6675 IsLost). */
  lostBytes: number;
  /** Bytes in the network: RFC 6675 pipe in SACK recovery, else SND.NXT - SND.UNA less SACKed bytes. */
  bytesInFlight: number;
  /** Send ring: bytes queued (unacknowledged + unsent) and its capacity. */
  sndBufUsed: number;
  sndBufSize: number;
  /** Receive ring: bytes waiting for the application, and its capacity. */
  rcvBufUsed: number;
  rcvBufSize: number;
  /** Out-of-order bytes held by the assembler. */
  oooBytes: number;
  /** Application-visible byte counters. */
  bytesReceived: number;
  bytesSent: number;
  noDelay: boolean;
  cork: boolean;
  /** RFC 7323 window scaling in use, and the two shifts (0 when not in use; Linux tcpi_snd_wscale/rcv_wscale). */
  windowScaling: boolean;
  sndWscale: number;
  rcvWscale: number;
  /** RFC 7323 timestamps in use; TS.Recent, the peer's timestamp we echo. */
  timestamps: boolean;
  tsRecent: number;
  /** RFC 2018 SACK negotiated. */
  sackPermitted: boolean;
  /** Bytes of options in every data segment (12 with timestamps): the payload of a full segment is mss minus this. */
  dataOptionsLength: number;
}

export interface TcpConnection {
  readonly state: TcpState;
  readonly localAddress: Ipv4Address;
  readonly localPort: number;
  readonly remoteAddress: Ipv4Address;
  readonly remotePort: number;
  /** Set by the owner (socket layer) right after creation / accept. */
  events: ConnectionEvents;

  /** Free bytes in the send ring. */
  readonly writableSpace: number;
  /** Bytes waiting in the receive ring. */
  readonly readableLength: number;

  /**
   * Copies as much of `data` as the send ring has room for and returns the
   * count (0 when full). Sends what the windows and Nagle allow right away.
   * Throws StackError EPIPE after shutdown()/abort() or once the peer reset.
   */
  write(data: Uint8Array, now: number): number;
  /**
   * Copies up to `dst.length` bytes out of the receive ring and returns the
   * count. Freeing space may send a window update.
   */
  read(dst: Uint8Array, now: number): number;
  /** Half-close: FIN goes out after all queued data (Node's `end()`). */
  shutdown(now: number): void;
  /** Abort: RST to the peer (when synchronized), connection freed (Node's `destroy()`). */
  abort(now: number): void;
  setNoDelay(noDelay: boolean, now: number): void;
  /** While corked, partial segments wait until uncorked or full (Linux TCP_CORK). */
  setCork(cork: boolean, now: number): void;
  /**
   * As Node's socket.setKeepAlive: probes after `initialDelayMs` of silence
   * (0 keeps the current delay), every keepAliveIntervalMs, ETIMEDOUT after
   * keepAliveCount unanswered ones (RFC 1122 §4.2.3.6).
   */
  setKeepAlive(enable: boolean, initialDelayMs: number, now: number): void;
  /**
   * Additive (orphaning): close(2) semantics. The application will not read
   * or write again: the FIN goes out after queued data (as shutdown()), data
   * still unread or arriving later resets the connection (RFC 1122
   * §4.2.2.13), FIN-WAIT-2 lasts at most TcpConfig.finWait2TimeoutMs
   * (Linux tcp_fin_timeout), and a peer's zero window is probed at most
   * TcpConfig.orphanRetries times before an RST (Linux tcp_orphan_retries).
   * Events may still be delivered until onClose.
   */
  detach(now: number): void;
  getInfo(): TcpInfo;
}

export interface ListenOptions extends ConnectionOptions {
  /** 0 means any local address. */
  address: Ipv4Address;
  port: number;
  /** Bound of the accept queue (established, not yet accepted). */
  backlog?: number;
  /** Bound of the SYN queue (half-open, SYN-RECEIVED). */
  synBacklog?: number;
}

export interface ListenerInfo {
  localAddress: string;
  localPort: number;
  synQueueLength: number;
  synQueueLimit: number;
  acceptQueueLength: number;
  acceptQueueLimit: number;
  /** Final ACKs dropped because the accept queue was full. */
  acceptQueueOverflows: number;
  /** SYNs dropped because the SYN queue was full. */
  synQueueOverflows: number;
}

export interface TcpListener {
  readonly localAddress: Ipv4Address;
  readonly localPort: number;
  /** Called when the accept queue goes from empty to non-empty (and after each accept while non-empty is fine too). */
  onAcceptable: (() => void) | null;
  /** Takes the oldest established connection off the accept queue. */
  accept(): TcpConnection | undefined;
  /** Stops listening; connections still in either queue are reset. */
  close(now: number): void;
  getInfo(): ListenerInfo;
}

export interface ConnectOptions extends ConnectionOptions {
  remoteAddress: Ipv4Address;
  remotePort: number;
  /** Defaults to the stack's address. */
  localAddress?: Ipv4Address;
  /** Defaults to a free ephemeral port. */
  localPort?: number;
}

export interface TcpApi {
  /** Throws StackError EADDRINUSE when the port (and address) is taken. */
  listen(options: ListenOptions): TcpListener;
  /** Sends the SYN now; throws EADDRINUSE if the 4-tuple is taken. */
  connect(options: ConnectOptions, now: number): TcpConnection;
  /** Every connection in the table, for stats and `tuntcp ss`. */
  connections(): Iterable<TcpConnection>;
  listeners(): Iterable<TcpListener>;
}
