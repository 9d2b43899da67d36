import { Duplex } from 'node:stream';
import { formatIpv4, parseIpv4 } from '../ip/address.ts';
import { StackError } from '../errors.ts';
import type { CongestionControlName, ConnectionEvents, TcpConnection, TcpInfo } from '../tcp/api.ts';
import type { StackHost } from '../stack/host.ts';

export interface SocketOptions {
  /** Like net.Socket: when false (default) the socket ends its writable side once the peer's FIN was read. */
  allowHalfOpen?: boolean;
  /** Receive and send ring capacities for connections this socket opens. */
  rcvBuf?: number;
  sndBuf?: number;
  noDelay?: boolean;
  /** Congestion control of the connections it opens ('newreno', 'cubic'); the stack's default otherwise. */
  congestionControl?: CongestionControlName;
}

export interface SocketConnectOptions {
  host?: string;
  port: number;
  localAddress?: string;
  localPort?: number;
}

type WriteCallback = (error?: Error | null) => void;

/** Largest chunk handed to the stream at once: one copy out of the receive ring each. */
const MAX_READ_CHUNK = 64 * 1024;

/**
 * A TCP socket on tuntcp, shaped like Node's `net.Socket` so that code written
 * for Node (its own `http` module among it) runs on it.
 *
 * Back-pressure is TCP flow control: the readable side pulls from the receive
 * ring only while the stream wants data, so an application that stops reading
 * lets the ring fill and our advertised window close; the writable side copies
 * into the send ring only while it has room, so `write()` returns false once
 * the ring is full (plus the stream's own highWaterMark) and `'drain'` follows
 * when ACKs free space.
 */
export class Socket extends Duplex {
  connecting = false;
  private conn: TcpConnection | null = null;
  private readonly host: StackHost;
  private readonly socketOptions: SocketOptions;
  private wantsData = false;
  private remoteEnded = false;
  private eofPushed = false;
  private connClosed = false;
  private finSent = false;
  private pendingWrite: { chunk: Uint8Array; callback: WriteCallback } | null = null;
  private pendingFinal: WriteCallback | null = null;
  private written = 0;
  private received = 0;
  private idleTimeoutMs = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private noDelay: boolean;
  private pullTaskFn: (() => void) | null = null;
  private flushTaskFn: (() => void) | null = null;

  constructor(host: StackHost, options: SocketOptions = {}, connection?: TcpConnection) {
    super({ allowHalfOpen: options.allowHalfOpen ?? false, emitClose: true, autoDestroy: true });
    this.host = host;
    this.socketOptions = options;
    this.noDelay = options.noDelay ?? false;
    if (connection) this.attach(connection);
  }

  // ---- net.Socket-like surface -------------------------------------------------

  /** Active open. `listener` is added as a one-time 'connect' listener. */
  connect(options: SocketConnectOptions, listener?: () => void): this {
    if (this.conn) throw new StackError('EINVAL', 'socket is already connected', 'connect');
    if (listener) this.once('connect', listener);
    this.connecting = true;
    try {
      const conn = this.host.tcp.connect(
        {
          remoteAddress: parseIpv4(options.host ?? '127.0.0.1'),
          remotePort: options.port,
          ...(options.localAddress !== undefined ? { localAddress: parseIpv4(options.localAddress) } : {}),
          ...(options.localPort !== undefined ? { localPort: options.localPort } : {}),
          ...(this.socketOptions.rcvBuf !== undefined ? { rcvBuf: this.socketOptions.rcvBuf } : {}),
          ...(this.socketOptions.sndBuf !== undefined ? { sndBuf: this.socketOptions.sndBuf } : {}),
          ...(this.socketOptions.congestionControl !== undefined ? { congestionControl: this.socketOptions.congestionControl } : {}),
          noDelay: this.noDelay,
        },
        this.host.now(),
      );
      this.attach(conn);
      this.host.kick();
    } catch (err) {
      this.connecting = false;
      process.nextTick(() => this.destroy(err instanceof Error ? err : new Error(String(err))));
    }
    return this;
  }

  get pending(): boolean {
    return this.conn === null || this.connecting;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }

  get remoteAddress(): string | undefined {
    return this.conn ? formatIpv4(this.conn.remoteAddress) : undefined;
  }
  get remotePort(): number | undefined {
    return this.conn?.remotePort;
  }
  get remoteFamily(): string | undefined {
    return this.conn ? 'IPv4' : undefined;
  }
  get localAddress(): string | undefined {
    return this.conn ? formatIpv4(this.conn.localAddress) : undefined;
  }
  get localPort(): number | undefined {
    return this.conn?.localPort;
  }
  get localFamily(): string | undefined {
    return this.conn ? 'IPv4' : undefined;
  }
  /** Bytes the application has read. */
  get bytesRead(): number {
    return this.received;
  }
  /** Bytes the application has handed to write() (including what still waits in the stream's buffer). */
  get bytesWritten(): number {
    return this.written + this.writableLength;
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (!this.conn) return {};
    return { address: formatIpv4(this.conn.localAddress), family: 'IPv4', port: this.conn.localPort };
  }

  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    if (this.conn) {
      this.conn.setNoDelay(noDelay, this.host.now());
      this.host.kick();
    }
    return this;
  }

  /** Linux TCP_CORK: hold partial segments until uncorked or a full segment is queued. */
  setTcpCork(cork: boolean): this {
    if (this.conn) {
      this.conn.setCork(cork, this.host.now());
      this.host.kick();
    }
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    if (this.conn) {
      this.conn.setKeepAlive(enable, initialDelay, this.host.now());
      this.host.kick();
    }
    return this;
  }

  /** Idle timeout as net.Socket has it: emits 'timeout' after `ms` without activity; 0 turns it off. */
  setTimeout(ms: number, callback?: () => void): this {
    this.idleTimeoutMs = ms;
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    this.touch();
    return this;
  }

  get timeout(): number | undefined {
    return this.idleTimeoutMs || undefined;
  }

  /** Timers of sockets do not keep the process alive in Node either; these exist for API compatibility. */
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  /** net.Socket#destroySoon: end, then destroy once everything is flushed. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Aborts with an RST whatever the state (net.Socket#resetAndDestroy). */
  resetAndDestroy(): this {
    this.abortConnection();
    return this.destroy();
  }

  /** The connection's tcp_info-like view (state, windows, queues, RTO...). */
  getInfo(): TcpInfo | undefined {
    return this.conn?.getInfo();
  }

  get connection(): TcpConnection | null {
    return this.conn;
  }

  // ---- stream implementation ----------------------------------------------------

  override _read(): void {
    this.wantsData = true;
    this.pull();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.pendingWrite = { chunk, callback };
    this.flushPendingWrite();
  }

  override _final(callback: WriteCallback): void {
    if (this.connecting || this.pendingWrite) {
      this.pendingFinal = callback;
      return;
    }
    this.sendFin(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearIdleTimer();
    const conn = this.conn;
    if (conn && !this.connClosed) {
      // Like close(2) on a kernel socket, which is what destroy() does in
      // Node: with nothing unread, the connection sends what is already in
      // the send ring, then FIN, and finishes closing in the background (an
      // orphan, whose FIN-WAIT-2 is bounded as by Linux's tcp_fin_timeout).
      // Unread data, an error or a connection still opening is aborted with
      // RST so the peer learns at once. Node's http relies on the FIN case:
      // it destroy()s idle keep-alive sockets. resetAndDestroy() always RSTs.
      const orderly = error === null && !this.connecting && conn.readableLength === 0;
      if (!orderly) {
        this.abortConnection();
      } else {
        const now = this.host.now();
        if (!this.writableFinished && !this.finSent) {
          try {
            conn.shutdown(now);
          } catch {
            // Already shut down by the core (reset or closed): nothing to send.
          }
        }
        conn.detach(now);
        this.host.kick();
      }
    }
    if (this.pendingWrite) {
      const { callback: cb } = this.pendingWrite;
      this.pendingWrite = null;
      cb(error ?? new StackError('EPIPE', 'socket destroyed', 'write'));
    }
    callback(error);
  }

  // ---- the connection's events ------------------------------------------------

  private attach(conn: TcpConnection): void {
    this.conn = conn;
    // One small object with prototype methods rather than five closures: at
    // thousands of connections per second each closure is garbage (and, run
    // through tsx, each named one also pays a defineProperty for its name).
    conn.events = new SocketEvents(this);
    if (conn.state === 'ESTABLISHED' || conn.state === 'CLOSE-WAIT') this.connecting = false;
  }

  // ---- the connection's events (through SocketEvents) ---------------------------

  /** @internal */
  _onConnEstablished(): void {
    this.connecting = false;
    this.touch();
    // Node emits 'connect' asynchronously; listeners added right after
    // connect() must see it, and the core must not be re-entered from here.
    process.nextTick(emitConnect, this);
  }

  /** @internal The nextTick after onEstablished. */
  _afterEstablished(): void {
    if (this.destroyed) return;
    this.emit('connect');
    this.emit('ready');
    this.flushPendingWrite();
    if (this.pendingFinal && !this.pendingWrite) {
      const cb = this.pendingFinal;
      this.pendingFinal = null;
      this.sendFin(cb);
    }
    if (this.wantsData) this.pull();
  }

  /** @internal */
  _onConnReadable(): void {
    this.touch();
    if (this.wantsData) queueMicrotask(this.pullTask());
  }

  /** @internal */
  _onConnWritable(): void {
    this.touch();
    if (this.pendingWrite) queueMicrotask(this.flushTask());
  }

  /** @internal */
  _onConnEnd(): void {
    this.remoteEnded = true;
    queueMicrotask(this.pullTask());
  }

  /** @internal */
  _onConnClose(error: StackError | null): void {
    this.connClosed = true;
    this.connecting = false;
    queueMicrotask(() => {
      if (error) {
        this.destroy(error);
        return;
      }
      // Orderly close: anything unread is still in the ring; the stream
      // ends once it is drained and then destroys itself (autoDestroy).
      this.remoteEnded = true;
      this.pull();
      if (this.pendingWrite) this.destroy(new StackError('EPIPE', 'connection closed with data unsent', 'write'));
    });
  }

  /** The microtask that pulls from the ring: made once per socket, on first use. */
  private pullTask(): () => void {
    return (this.pullTaskFn ??= () => this.pull());
  }

  private flushTask(): () => void {
    return (this.flushTaskFn ??= () => this.flushPendingWrite());
  }

  /** Moves bytes from the receive ring into the stream while the stream wants them. */
  private pull(): void {
    const conn = this.conn;
    if (!conn || this.destroyed || this.eofPushed) return;
    let readAny = false;
    while (this.wantsData) {
      const available = conn.readableLength;
      if (available === 0) {
        if (this.remoteEnded) {
          this.eofPushed = true;
          this.wantsData = false;
          this.push(null);
        }
        break;
      }
      const chunk = Buffer.allocUnsafe(Math.min(available, MAX_READ_CHUNK));
      const n = conn.read(chunk, this.host.now());
      if (n === 0) break;
      readAny = true;
      this.received += n;
      this.wantsData = this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    }
    // A read may have opened the window: let the core's window update out.
    if (readAny) this.host.kick();
  }

  private flushPendingWrite(): void {
    const pending = this.pendingWrite;
    const conn = this.conn;
    if (!pending || !conn || this.connecting || this.destroyed) return;
    let n: number;
    try {
      n = conn.write(pending.chunk, this.host.now());
    } catch (err) {
      this.pendingWrite = null;
      pending.callback(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.host.kick();
    this.written += n;
    if (n > 0) this.touch();
    if (n < pending.chunk.length) {
      // The send ring is full; onWritable resumes when ACKs free space.
      pending.chunk = pending.chunk.subarray(n);
      return;
    }
    this.pendingWrite = null;
    pending.callback();
    if (this.pendingFinal) {
      const cb = this.pendingFinal;
      this.pendingFinal = null;
      this.sendFin(cb);
    }
  }

  private sendFin(callback: WriteCallback): void {
    const conn = this.conn;
    if (!conn || this.connClosed) {
      callback();
      return;
    }
    try {
      this.finSent = true;
      conn.shutdown(this.host.now());
      this.host.kick();
      callback();
    } catch (err) {
      callback(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private abortConnection(): void {
    const conn = this.conn;
    if (!conn || this.connClosed) return;
    this.connClosed = true;
    conn.abort(this.host.now());
    this.host.kick();
  }

  private touch(): void {
    if (this.idleTimeoutMs <= 0) {
      this.clearIdleTimer();
      return;
    }
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      this.emit('timeout');
    }, this.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

/** The core's events for one Socket: forwards to its internal handlers. */
class SocketEvents implements ConnectionEvents {
  constructor(private readonly socket: Socket) {}
  onEstablished(): void {
    this.socket._onConnEstablished();
  }
  onReadable(): void {
    this.socket._onConnReadable();
  }
  onWritable(): void {
    this.socket._onConnWritable();
  }
  onEnd(): void {
    this.socket._onConnEnd();
  }
  onClose(error: StackError | null): void {
    this.socket._onConnClose(error);
  }
}

function emitConnect(socket: Socket): void {
  socket._afterEstablished();
}
