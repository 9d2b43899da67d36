/**
 * A passive OPEN (RFC 9293 §3.10.1) with the two queues every real stack
 * keeps (Linux: the request sock queue and the accept queue):
 *
 * - the SYN queue: half-open connections in SYN-RECEIVED, bounded by
 *   `synBacklog`. A SYN arriving when it is full is dropped and counted
 *   (SYN cookies, which would let us answer anyway, come later);
 * - the accept queue: ESTABLISHED connections the application has not
 *   accepted yet, bounded by `backlog`. When it is full, a new SYN is dropped
 *   and the final ACK of a handshake is dropped too, leaving that entry in
 *   SYN-RECEIVED: its SYN-ACK retransmission will make the client ACK again,
 *   by which time there may be room (Linux's behaviour, which keeps the
 *   client from seeing a reset just because the server was slow to accept).
 *
 * The listener owns no timers: each SYN-RECEIVED entry is a Connection with
 * its own SYN-ACK retransmission timer.
 */
import type { Ipv4Address } from '../ip/address.ts';
import { formatIpv4 } from '../ip/address.ts';
import type { ConnectionOptions, ListenerInfo, TcpConnection, TcpListener } from './api.ts';
import type { Connection } from './connection.ts';

export interface ListenerInit {
  localAddress: Ipv4Address;
  localPort: number;
  backlog: number;
  synBacklog: number;
  /** Buffer sizes and Nagle setting for the connections it accepts. */
  connectionOptions: ConnectionOptions;
  /** Removes the listener from the stack's table. */
  unregister(listener: Listener): void;
}

export class Listener implements TcpListener {
  readonly localAddress: Ipv4Address;
  readonly localPort: number;
  onAcceptable: (() => void) | null = null;
  /** `--trace`: told of each overflow as it is counted. */
  onOverflow: ((queue: 'syn' | 'accept') => void) | null = null;
  readonly backlog: number;
  readonly synBacklog: number;
  readonly connectionOptions: ConnectionOptions;
  /** Insertion-ordered sets: FIFO order plus O(1) removal of a reset entry. */
  private readonly synQueue = new Set<Connection>();
  private readonly acceptQueue = new Set<Connection>();
  private acceptQueueOverflows = 0;
  private synQueueOverflows = 0;
  private closed = false;
  private readonly unregister: (listener: Listener) => void;

  constructor(init: ListenerInit) {
    this.localAddress = init.localAddress;
    this.localPort = init.localPort;
    this.backlog = init.backlog;
    this.synBacklog = init.synBacklog;
    this.connectionOptions = init.connectionOptions;
    this.unregister = init.unregister;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  accept(): TcpConnection | undefined {
    for (const conn of this.acceptQueue) {
      this.acceptQueue.delete(conn);
      conn.listener = null;
      return conn;
    }
    return undefined;
  }

  /** Connections still queued are reset, as closing a listening socket does in Linux. */
  close(now: number): void {
    if (this.closed) return;
    this.closed = true;
    this.unregister(this);
    const queued = [...this.synQueue, ...this.acceptQueue];
    this.synQueue.clear();
    this.acceptQueue.clear();
    for (const conn of queued) {
      conn.listener = null;
      conn.abort(now);
    }
  }

  getInfo(): ListenerInfo {
    return {
      localAddress: formatIpv4(this.localAddress),
      localPort: this.localPort,
      synQueueLength: this.synQueue.size,
      synQueueLimit: this.synBacklog,
      acceptQueueLength: this.acceptQueue.size,
      acceptQueueLimit: this.backlog,
      acceptQueueOverflows: this.acceptQueueOverflows,
      synQueueOverflows: this.synQueueOverflows,
    };
  }

  // ---- used by the stack and by connections ---------------------------------

  hasRoomInSynQueue(): boolean {
    return this.synQueue.size < this.synBacklog;
  }

  hasRoomInAcceptQueue(): boolean {
    return this.acceptQueue.size < this.backlog;
  }

  recordSynQueueOverflow(): void {
    this.synQueueOverflows++;
    this.onOverflow?.('syn');
  }

  recordAcceptQueueOverflow(): void {
    this.acceptQueueOverflows++;
    this.onOverflow?.('accept');
  }

  /** A new half-open connection (SYN received, SYN-ACK sent). */
  addHalfOpen(conn: Connection): void {
    this.synQueue.add(conn);
  }

  /** The handshake completed: SYN queue -> accept queue. */
  admit(conn: Connection): void {
    this.synQueue.delete(conn);
    this.acceptQueue.add(conn);
    conn.markAcceptable();
  }

  /** The connection was freed (reset, timeout) before the application accepted it. */
  forget(conn: Connection): void {
    this.synQueue.delete(conn);
    this.acceptQueue.delete(conn);
  }

  /** Delivered after the segment that completed the handshake is fully processed. */
  notifyAcceptable(conn: Connection): void {
    if (!this.acceptQueue.has(conn)) return;
    this.onAcceptable?.();
  }

  toString(): string {
    return `${formatIpv4(this.localAddress)}:${this.localPort} LISTEN`;
  }
}
