/**
 * The TCP layer of the stack: the connection table (by 4-tuple), the
 * listener table (by local port and address), demultiplexing of arriving
 * segments, the replies for segments that belong to nothing (RFC 9293
 * §3.10.7.1-2), active and passive opens, and the deadlines of the sans-I/O
 * core (`nextDeadline` / `poll`).
 *
 * `send` receives whole IPv4 packets, synchronously, during input(), poll()
 * or a user call. It must not call back into this Tcp synchronously (queue
 * the packet instead): the core is not re-entrant from its transmit path.
 */
import type { Ipv4Address } from '../ip/address.ts';
import { formatIpv4 } from '../ip/address.ts';
import { IP_PROTOCOL_TCP } from '../ip/ipv4-header.ts';
import type { Ipv4View } from '../ip/ipv4.ts';
import { StackError } from '../errors.ts';
import { checksumTrusted, MAX_SUPER_PACKET, offloadSegmentSize } from '../link/offload.ts';
import type { TransportLayer } from '../stack/transport.ts';
import type { ConnectOptions, ListenOptions, TcpApi, TcpConnection, TcpListener } from './api.ts';
import type { TcpConfig } from './config.ts';
import { resolveTcpConfig } from './config.ts';
import { congestionControlNames, hasCongestionControl } from './congestion/registry.ts';
import type { ConnectionHost } from './connection.ts';
import { Connection, newPassiveConnection } from './connection.ts';
import { ConnectionTable } from './connection-table.ts';
import type { IsnGenerator } from './isn.ts';
import { createIsnGenerator } from './isn.ts';
import { Listener } from './listener.ts';
import { buildResetReply, sendAck, sendSyn } from './output.ts';
import { chooseEphemeralPort, secureRandom } from './ports.ts';
import { ChallengeAckLimiter } from './rfc5961.ts';
import { checkTcp, TcpView } from './segment.ts';
import { segmentArrives } from './segment-arrives.ts';
import { seqAdd, seqGt } from './seq.ts';
import { TcpStats } from './stats.ts';
import { fireTimers } from './timers.ts';
import { TimerQueue } from './timer-queue.ts';
import type { CookieContext } from './syn-cookies.ts';
import { SynCookieJar, acceptCookieAck, sendCookieSynAck } from './syn-cookies.ts';
import { negotiateSynOptions, offerSynOptions } from './syn-options.ts';
import type { TsOffsetGenerator } from './timestamps.ts';
import { createTsOffsetGenerator } from './timestamps.ts';
import type { TcpTracer } from './trace.ts';

export interface TcpInit {
  localAddress: Ipv4Address;
  /** Link MTU; we advertise MSS = mtu - 40 (no IP or TCP options). */
  mtu: number;
  /** Where packets leave, with their offload word (src/link/offload.ts; 0 for most). */
  send: (packet: Uint8Array, offload: number) => void;
  /** The link's offloadMaxSize (src/link/link.ts): TSO super-packets and partial checksums when > 0. */
  offloadMaxSize?: number;
  config?: Partial<TcpConfig>;
  /**
   * Uniform in [0, 1); used for ephemeral ports (RFC 6056) and the jitter of
   * the challenge-ACK budget (RFC 5961 §7). Defaults to a CSPRNG: an
   * attacker must not predict either.
   */
  random?: () => number;
  /** Key of the RFC 6528 ISN hash; random per instance by default. */
  isnSecret?: Uint8Array;
  /** Replaces the RFC 6528 generator outright (tests that want fixed ISNs). */
  isn?: IsnGenerator;
  /** Per host pair offset of our TSval clock (RFC 7323 §7.1); a keyed hash by default (tests: fixed). */
  tsOffset?: TsOffsetGenerator;
  /** Key of the SYN cookies (RFC 4987); random per instance by default. */
  cookieSecret?: Uint8Array;
}

const IPV4_AND_TCP_HEADERS = 40;

/** Within a batch, an ACK owed for this many unacknowledged bytes or more goes out at once. */
const MAX_COALESCED_ACK_BYTES = 65536;

/** A per-socket algorithm must be registered: refused at listen/connect, not at the first SYN. */
function checkCongestionControl(name: string | undefined, syscall: string): void {
  if (name !== undefined && !hasCongestionControl(name)) {
    throw new StackError('EINVAL', `unknown congestion control ${JSON.stringify(name)} (known: ${congestionControlNames().join(', ')})`, syscall);
  }
}

export class Tcp implements TransportLayer, TcpApi {
  readonly protocol = IP_PROTOCOL_TCP;
  readonly stats = new TcpStats();
  readonly config: TcpConfig;
  /**
   * `tuntcp serve --trace`: state changes, timer firings and queue overflows
   * go here when set (see trace.ts). Null costs one check per event site.
   */
  trace: TcpTracer | null = null;
  readonly localAddress: Ipv4Address;
  readonly mtu: number;
  private readonly transmit: (packet: Uint8Array, offload: number) => void;
  private readonly random: () => number;
  private readonly isn: IsnGenerator;
  private readonly table = new ConnectionTable();
  private readonly listenersByPort = new Map<number, Listener[]>();
  /**
   * Connections with an armed timer, by earliest deadline (timer-queue.ts):
   * nextDeadline() and poll() touch only the connections that are due, so
   * 100,000 connections each holding a keepalive or TIME-WAIT timer cost
   * nothing per batch of packets, and the driver still needs one Node timer.
   */
  private readonly timed = new TimerQueue<Connection>((conn) => conn.timers.earliest());
  private readonly host: ConnectionHost;
  private readonly tsOffset: TsOffsetGenerator;
  private readonly cookies: CookieContext;
  /** One view reused for every segment; a nested input() (a looping test setup) gets a fresh one. */
  private readonly segView = new TcpView();
  private inputDepth = 0;
  /** Scratch list of the connections due in poll(), reused (a nested poll gets a fresh one). */
  private readonly due: Connection[] = [];
  private pollDepth = 0;
  /** Depth of beginBatch()/endBatch(); pure ACKs are deferred to endBatch while > 0. */
  private batchDepth = 0;
  /** Connections whose pure ACK / window update waits for the end of the batch. */
  private readonly ackPending = new Set<Connection>();

  constructor(init: TcpInit) {
    if (!Number.isInteger(init.mtu) || init.mtu < 68 + 40 || init.mtu > 65535) {
      throw new RangeError(`mtu must be an integer in [108, 65535], got ${init.mtu}`);
    }
    this.config = resolveTcpConfig(init.config);
    this.localAddress = init.localAddress >>> 0;
    this.mtu = init.mtu;
    this.transmit = init.send;
    this.random = init.random ?? secureRandom;
    this.isn = init.isn ?? createIsnGenerator(init.isnSecret);
    this.tsOffset = init.tsOffset ?? createTsOffsetGenerator();
    const self = this;
    const offloadMaxSize = init.offloadMaxSize ?? 0;
    if (!Number.isInteger(offloadMaxSize) || offloadMaxSize < 0 || offloadMaxSize > MAX_SUPER_PACKET) {
      throw new RangeError(`offloadMaxSize must be an integer in [0, ${MAX_SUPER_PACKET}], got ${offloadMaxSize}`);
    }
    this.host = {
      config: this.config,
      stats: this.stats,
      // Also at an MTU as large as the super-packet limit, where TSO never
      // applies: the checksum offload still does.
      offloadMaxSize,
      transmit: (packet, offload = 0) => self.transmit(packet, offload),
      release: (conn) => self.releaseConnection(conn),
      timerArmed: (conn) => {
        self.timed.armed(conn);
      },
      deferAck: (conn) => {
        // Only an ACK that advances RCV.NXT with nothing out of order is
        // coalesced: duplicate ACKs (RFC 5681 §4.2: out-of-order data is
        // ACKed at once, each one counts for the sender's fast retransmit),
        // the ACKs carrying changing SACK blocks, and pure window updates
        // still go out immediately.
        if (self.batchDepth === 0) return false;
        if (conn.rcvNxt === conn.lastAckSent || !conn.assembler.isEmpty() || conn.oooFinSeq !== null) return false;
        // As GRO's 64 KB aggregates: a batch of up to 256 segments still
        // ACKs at least every 64 KB, so the sender's ACK clock keeps going.
        if (conn.rcvUnacked >= MAX_COALESCED_ACK_BYTES) return false;
        self.ackPending.add(conn);
        return true;
      },
      challengeAckLimiter: new ChallengeAckLimiter(() => self.config.challengeAckLimit, this.random),
      get tracer() {
        return self.trace;
      },
    };
    this.cookies = {
      host: this.host,
      advMss: this.advMss,
      jar: new SynCookieJar(init.cookieSecret),
      tsOffset: this.tsOffset,
      connectionCount: () => self.table.size,
      addConnection: (conn) => self.table.add(conn),
    };
  }

  /** The MSS we advertise. */
  get advMss(): number {
    return this.mtu - IPV4_AND_TCP_HEADERS;
  }

  // ---- TransportLayer -------------------------------------------------------

  input(packet: Ipv4View, now: number): void {
    this.stats.segmentsIn++;
    const bytes = packet.payload;
    const src = packet.src;
    const dst = packet.dst;
    const offload = packet.offload;
    const reason = checkTcp(bytes, src, dst, checksumTrusted(offload));
    if (reason !== null) {
      if (reason === 'checksum') this.stats.badChecksum++;
      else this.stats.malformed++;
      return;
    }
    const segmentSize = offloadSegmentSize(offload);
    const seg = this.inputDepth === 0 ? this.segView.reset(bytes, segmentSize) : new TcpView(bytes, segmentSize);
    if (segmentSize > 0) {
      this.stats.superPacketsIn++;
      this.stats.segmentsIn += Math.max(0, Math.ceil(seg.payloadLength / segmentSize) - 1);
    }
    this.inputDepth++;
    try {
      this.segmentInput(seg, src, dst, now);
    } finally {
      this.inputDepth--;
    }
  }

  private segmentInput(seg: TcpView, src: Ipv4Address, dst: Ipv4Address, now: number): void {
    let conn = this.table.get(dst, seg.dstPort, src, seg.srcPort);
    if (conn !== undefined && conn.state === 'TIME-WAIT' && this.isNewIncarnation(conn, seg)) {
      // RFC 9293 §3.10.7.4 / RFC 1122 §4.2.2.13: a SYN beyond the old
      // connection's sequence space may reopen it from TIME-WAIT.
      conn.release();
      conn = undefined;
    }
    if (conn !== undefined) {
      segmentArrives(conn, seg, now);
      conn.flushEvents();
      return;
    }
    const listener = this.findListener(dst, seg.dstPort);
    if (listener !== undefined) {
      this.listenArrives(listener, dst, src, seg, now);
      return;
    }
    this.closedArrives(dst, src, seg);
  }

  poll(now: number): void {
    if (this.timed.size === 0) return;
    // The connections due now, earliest first, collected (and taken out of
    // the queue) before any fires: firing may arm, cancel or free timers of
    // any connection. Each goes back into the queue with what it still has
    // armed once its own timers have run.
    const due = this.pollDepth === 0 ? this.due : [];
    this.timed.takeDue(now, due);
    this.pollDepth++;
    try {
      for (let i = 0; i < due.length; i++) {
        const conn = due[i]!;
        // An earlier connection's events may have freed this one or moved its deadline.
        if (conn.timers.earliest() <= now) {
          fireTimers(conn, now);
          conn.flushEvents();
        }
        this.timed.armed(conn);
      }
    } finally {
      this.pollDepth--;
      due.length = 0;
    }
  }

  /**
   * Starts a batch of input() calls (the driver's batch of packets read
   * together): until the matching endBatch(), the pure ACKs connections
   * owe for in-order data (see `deferAck` for the exact rule) are deferred,
   * and endBatch() sends one per connection, carrying the latest RCV.NXT and
   * window (ACK coalescing, as GRO-aware stacks do). Duplicate ACKs, pure
   * window updates, data, RSTs, SYN-ACKs and challenge ACKs still go out at
   * once, and a data segment sent meanwhile carries the ACK instead.
   * Outside a batch nothing is deferred.
   */
  beginBatch(): void {
    this.batchDepth++;
  }

  endBatch(now: number): void {
    if (this.batchDepth === 0 || --this.batchDepth > 0) return;
    const pending = this.ackPending;
    for (const conn of pending) {
      pending.delete(conn);
      const s = conn.state;
      if (!conn.ackNow || s === 'CLOSED' || s === 'LISTEN' || s === 'SYN-SENT') continue;
      if (s === 'CLOSE-WAIT' && !conn.detached) {
        // RCV.NXT moves no more in CLOSE-WAIT, so this is the ACK of the
        // peer's FIN. As Linux (tcp_fin enters pingpong mode), it is due now
        // rather than sent now: the application, told of the end of stream
        // as this batch ends, usually closes at once, and our FIN (or a last
        // reply) carries the ACK — one packet less per short connection.
        // Otherwise the delayed-ACK timer sends it at the next poll, one
        // timer tick later.
        conn.timers.delayedAck = now;
        this.host.timerArmed(conn);
        continue;
      }
      sendAck(conn, now);
    }
  }

  nextDeadline(): number {
    return this.timed.peek();
  }

  // ---- TcpApi ---------------------------------------------------------------

  listen(options: ListenOptions): TcpListener {
    const port = options.port;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new StackError('EINVAL', `invalid port ${port}`, 'listen');
    }
    checkCongestionControl(options.congestionControl, 'listen');
    const address = (options.address ?? 0) >>> 0;
    const existing = this.listenersByPort.get(port) ?? [];
    if (existing.some((l) => l.localAddress === address || l.localAddress === 0 || address === 0)) {
      throw new StackError('EADDRINUSE', `port ${port} is already listening`, 'listen');
    }
    const listener = new Listener({
      localAddress: address,
      localPort: port,
      backlog: options.backlog ?? this.config.backlog,
      synBacklog: options.synBacklog ?? this.config.synBacklog,
      connectionOptions: {
        ...(options.rcvBuf === undefined ? {} : { rcvBuf: options.rcvBuf }),
        ...(options.sndBuf === undefined ? {} : { sndBuf: options.sndBuf }),
        ...(options.noDelay === undefined ? {} : { noDelay: options.noDelay }),
        ...(options.congestionControl === undefined ? {} : { congestionControl: options.congestionControl }),
      },
      unregister: (l) => this.removeListener(l),
    });
    listener.onOverflow = (queue) => {
      const name = `${formatIpv4(listener.localAddress)}:${listener.localPort}`;
      this.trace?.(queue === 'syn' ? { event: 'syn-queue-overflow', listener: name } : { event: 'accept-queue-overflow', listener: name });
    };
    this.listenersByPort.set(port, [...existing, listener]);
    return listener;
  }

  connect(options: ConnectOptions, now: number): TcpConnection {
    const remoteAddress = options.remoteAddress >>> 0;
    const remotePort = options.remotePort;
    if (!Number.isInteger(remotePort) || remotePort < 1 || remotePort > 65535) {
      throw new StackError('EINVAL', `invalid port ${remotePort}`, 'connect');
    }
    checkCongestionControl(options.congestionControl, 'connect');
    const localAddress = (options.localAddress ?? this.localAddress) >>> 0;
    if (this.table.size >= this.config.maxConnections) {
      throw new StackError('EMFILE', 'connection table full', 'connect');
    }
    let localPort: number;
    if (options.localPort !== undefined) {
      localPort = options.localPort;
      if (!Number.isInteger(localPort) || localPort < 1 || localPort > 65535) {
        throw new StackError('EINVAL', `invalid local port ${localPort}`, 'connect');
      }
      if (this.table.has(localAddress, localPort, remoteAddress, remotePort)) {
        throw new StackError('EADDRINUSE', 'connection already exists', 'connect');
      }
    } else {
      const port = chooseEphemeralPort(
        this.config.ephemeralPortMin,
        this.config.ephemeralPortMax,
        this.random,
        (p) => !this.table.has(localAddress, p, remoteAddress, remotePort) && !this.listenersByPort.has(p),
      );
      if (port === null) throw new StackError('EADDRNOTAVAIL', 'no free ephemeral port', 'connect');
      localPort = port;
    }
    const conn = new Connection({
      host: this.host,
      localAddress,
      localPort,
      remoteAddress,
      remotePort,
      iss: this.isn(localAddress, localPort, remoteAddress, remotePort, now),
      advMss: this.advMss,
      rcvBuf: options.rcvBuf ?? this.config.rcvBuf,
      sndBuf: options.sndBuf ?? this.config.sndBuf,
      noDelay: options.noDelay ?? false,
      listener: null,
      congestionControl: options.congestionControl,
    });
    conn.state = 'SYN-SENT';
    offerSynOptions(conn, this.config, this.tsOffset(localAddress, remoteAddress));
    this.table.add(conn);
    this.stats.activeOpens++;
    sendSyn(conn, now);
    return conn;
  }

  connections(): Iterable<TcpConnection> {
    return this.table.values();
  }

  listeners(): Iterable<TcpListener> {
    const all: TcpListener[] = [];
    for (const list of this.listenersByPort.values()) all.push(...list);
    return all;
  }

  /** Connections in the table (TIME-WAIT and SYN-RECEIVED included). */
  get connectionCount(): number {
    return this.table.size;
  }

  // ---- demultiplexing ---------------------------------------------------------

  private findListener(address: Ipv4Address, port: number): Listener | undefined {
    const list = this.listenersByPort.get(port);
    if (list === undefined) return undefined;
    let wildcard: Listener | undefined;
    for (const l of list) {
      if (l.localAddress === address) return l;
      if (l.localAddress === 0) wildcard = l;
    }
    return wildcard;
  }

  private isNewIncarnation(conn: Connection, seg: TcpView): boolean {
    return (
      seg.syn &&
      !seg.hasAck &&
      !seg.rst &&
      seqGt(seg.seq, conn.rcvNxt) &&
      this.findListener(conn.localAddress, conn.localPort) !== undefined
    );
  }

  /** RFC 9293 §3.10.7.1: CLOSED. */
  private closedArrives(local: Ipv4Address, remote: Ipv4Address, seg: TcpView): void {
    this.stats.noConnection++;
    if (seg.rst) return; // never an RST in reply to an RST
    this.sendPacket(buildResetReply(local, remote, seg));
    this.stats.rstsSent++;
  }

  /** RFC 9293 §3.10.7.2: LISTEN. */
  private listenArrives(listener: Listener, local: Ipv4Address, remote: Ipv4Address, seg: TcpView, now: number): void {
    if (seg.rst) return;
    if (seg.hasAck) {
      // The ACK of a SYN-cookie SYN-ACK (RFC 4987) creates the connection now.
      if (acceptCookieAck(this.cookies, listener, local, remote, seg, now)) return;
      this.sendPacket(buildResetReply(local, remote, seg));
      this.stats.rstsSent++;
      return;
    }
    if (!seg.syn) return;
    // SYN+FIN is no opening anyone makes; Linux drops it too.
    if (seg.fin) {
      this.stats.malformed++;
      return;
    }
    if (this.table.size >= this.config.maxConnections) {
      this.stats.connectionTableFull++;
      return;
    }
    if (!listener.hasRoomInAcceptQueue()) {
      this.stats.synDroppedAcceptQueueFull++;
      this.trace?.({
        event: 'syn-dropped-accept-queue-full',
        listener: `${formatIpv4(listener.localAddress)}:${listener.localPort}`,
        from: `${formatIpv4(remote)}:${seg.srcPort}`,
      });
      return;
    }
    if (this.config.synCookies === 2 || (this.config.synCookies === 1 && !listener.hasRoomInSynQueue())) {
      // RFC 4987 §3.6: answer without keeping state (syn-cookies.ts).
      sendCookieSynAck(this.cookies, listener, local, remote, seg, now);
      return;
    }
    if (!listener.hasRoomInSynQueue()) {
      listener.recordSynQueueOverflow();
      this.stats.synQueueOverflows++;
      return;
    }
    const iss = this.isn(local, seg.dstPort, remote, seg.srcPort, now);
    const conn = newPassiveConnection(this.host, listener, local, remote, seg, iss, this.advMss);
    conn.state = 'SYN-RECEIVED';
    conn.irs = seg.seq;
    conn.rcvNxt = seqAdd(seg.seq, 1);
    conn.rcvAdv = conn.rcvNxt;
    const peerOptions = seg.options();
    conn.applyPeerMss(peerOptions.mss);
    // RFC 7323, RFC 2018: our SYN-ACK carries only what the SYN offered.
    offerSynOptions(conn, this.config, this.tsOffset(local, remote));
    negotiateSynOptions(conn, peerOptions, now);
    // Text in the SYN is not kept (no TCP Fast Open): the peer resends it.
    this.table.add(conn);
    listener.addHalfOpen(conn);
    this.stats.passiveOpens++;
    sendSyn(conn, now);
  }

  // ---- host services ----------------------------------------------------------

  private sendPacket(packet: Uint8Array): void {
    this.stats.segmentsOut++;
    this.transmit(packet, 0);
  }

  private releaseConnection(conn: Connection): void {
    this.table.remove(conn);
    this.timed.remove(conn);
    const listener = conn.listener;
    if (listener !== null) {
      listener.forget(conn);
      conn.listener = null;
    }
  }

  private removeListener(listener: Listener): void {
    const list = this.listenersByPort.get(listener.localPort);
    if (list === undefined) return;
    const rest = list.filter((l) => l !== listener);
    if (rest.length === 0) this.listenersByPort.delete(listener.localPort);
    else this.listenersByPort.set(listener.localPort, rest);
  }
}
