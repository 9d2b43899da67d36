import { EventEmitter } from 'node:events';
import { formatIpv4, parseIpv4 } from '../ip/address.ts';
import type { ListenerInfo, TcpListener } from '../tcp/api.ts';
import type { StackHost } from '../stack/host.ts';
import { Socket, type SocketOptions } from './socket.ts';

export interface ServerOptions extends SocketOptions {
  /** Bound of the accept queue (as listen(2)'s backlog). */
  backlog?: number;
  /** Bound of the SYN queue (half-open connections). */
  synBacklog?: number;
  /**
   * When false, the server stops taking connections off the accept queue: they
   * wait there (and the queue can overflow), as with an application that never
   * calls accept(). Default true.
   */
  autoAccept?: boolean;
}

export interface ServerListenOptions {
  port: number;
  host?: string;
  backlog?: number;
  synBacklog?: number;
}

/**
 * A listening TCP server, shaped like Node's `net.Server`: 'listening',
 * 'connection' (with a Socket), 'close', 'error'.
 */
export class Server extends EventEmitter {
  private listener: TcpListener | null = null;
  private readonly sockets = new Set<Socket>();
  private closing = false;
  private accepting: boolean;
  /** What every accepted Socket is given (Socket keeps it; never mutated). */
  private readonly socketOptions: SocketOptions;
  private readonly onSocketClose: (this: Socket) => void;

  constructor(
    private readonly host: StackHost,
    private readonly options: ServerOptions = {},
    connectionListener?: (socket: Socket) => void,
  ) {
    super();
    this.accepting = options.autoAccept ?? true;
    this.socketOptions = { allowHalfOpen: options.allowHalfOpen ?? false };
    const sockets = this.sockets;
    const server = this;
    this.onSocketClose = function (this: Socket): void {
      sockets.delete(this);
      server.maybeEmitClose();
    };
    if (connectionListener) this.on('connection', connectionListener);
  }

  listen(portOrOptions: number | ServerListenOptions, callback?: () => void): this {
    const opts: ServerListenOptions = typeof portOrOptions === 'number' ? { port: portOrOptions } : portOrOptions;
    if (callback) this.once('listening', callback);
    try {
      if (this.listener) throw new Error('server is already listening');
      const backlog = opts.backlog ?? this.options.backlog;
      const synBacklog = opts.synBacklog ?? this.options.synBacklog;
      const listener = this.host.tcp.listen({
        address: opts.host === undefined || opts.host === '0.0.0.0' ? 0 : parseIpv4(opts.host),
        port: opts.port,
        ...(backlog !== undefined ? { backlog } : {}),
        ...(synBacklog !== undefined ? { synBacklog } : {}),
        ...(this.options.rcvBuf !== undefined ? { rcvBuf: this.options.rcvBuf } : {}),
        ...(this.options.sndBuf !== undefined ? { sndBuf: this.options.sndBuf } : {}),
        ...(this.options.noDelay !== undefined ? { noDelay: this.options.noDelay } : {}),
        ...(this.options.congestionControl !== undefined ? { congestionControl: this.options.congestionControl } : {}),
      });
      this.listener = listener;
      listener.onAcceptable = () => this.drainAcceptQueue();
      process.nextTick(() => this.emit('listening'));
    } catch (err) {
      process.nextTick(() => this.emit('error', err));
    }
    return this;
  }

  get listening(): boolean {
    return this.listener !== null;
  }

  address(): { address: string; family: string; port: number } | null {
    if (!this.listener) return null;
    return { address: formatIpv4(this.listener.localAddress), family: 'IPv4', port: this.listener.localPort };
  }

  /** Queue occupancy and limits, as `ss -lt` shows them. */
  getInfo(): ListenerInfo | undefined {
    return this.listener?.getInfo();
  }

  /** Starts or stops taking connections off the accept queue (see ServerOptions.autoAccept). */
  setAccepting(accepting: boolean): void {
    this.accepting = accepting;
    if (accepting) queueMicrotask(() => this.drainAcceptQueue());
  }

  getConnections(callback: (error: Error | null, count: number) => void): void {
    process.nextTick(() => callback(null, this.sockets.size));
  }

  /** Stops listening; 'close' follows once every accepted connection has closed. */
  close(callback?: (error?: Error) => void): this {
    if (callback) this.once('close', () => callback());
    if (!this.listener) {
      if (callback) process.nextTick(() => callback(new Error('server is not running')));
      return this;
    }
    this.closing = true;
    this.listener.close(this.host.now());
    this.listener = null;
    this.host.kick();
    this.maybeEmitClose();
    return this;
  }

  /** Iterates the live sockets (for graceful shutdown). */
  connections(): IterableIterator<Socket> {
    return this.sockets.values();
  }

  private drainAcceptQueue(): void {
    if (!this.accepting) return;
    for (;;) {
      const listener = this.listener;
      if (!listener) return;
      const conn = listener.accept();
      if (!conn) return;
      const socket = new Socket(this.host, this.socketOptions, conn);
      this.sockets.add(socket);
      // 'close' comes once per socket: one listener shared by all of them
      // (`this` is the socket) instead of a closure and a once-wrapper each.
      socket.on('close', this.onSocketClose);
      this.emit('connection', socket);
    }
  }

  private maybeEmitClose(): void {
    if (this.closing && this.sockets.size === 0) {
      this.closing = false;
      process.nextTick(() => this.emit('close'));
    }
  }
}
