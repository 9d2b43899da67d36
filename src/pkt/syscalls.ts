/**
 * The system calls of a script, mapped straight onto TcpApi (not through the
 * Node-stream socket layer, whose nextTick bookkeeping would make timing
 * depend on the event loop). A file-descriptor table gives scripts the fd
 * numbers a kernel would (lowest free, from 3), and each socket fd keeps
 * what the kernel's socket keeps: options set before the connection exists,
 * O_NONBLOCK, the pending error (SO_ERROR), end-of-file, shutdown state.
 *
 * A call either completes now or, on a blocking socket, blocks: it then
 * returns an `attempt` that the runner retries after every packet and timer
 * until it completes (the script's `...T` says when that must be).
 */
import { parseIpv4, type Ipv4Address } from '../ip/address.ts';
import { StackError } from '../errors.ts';
import type { TcpConnection, TcpListener } from '../tcp/api.ts';
import type { TcpConfig } from '../tcp/config.ts';
import type { Tcp } from '../tcp/tcp.ts';
import type { Expr } from './ast.ts';
import { ScriptFailure, ScriptUnsupported } from './errors.ts';
import { ERRNO, SOCKET_CONSTANTS, errnoName, lookupSymbol } from './symbols.ts';

export interface SyscallResult {
  ret: number;
  errno: string | null;
}

export type SyscallOutcome =
  | { kind: 'done'; result: SyscallResult }
  /** Would block on a blocking socket: retry `attempt` until it returns a result. */
  | { kind: 'blocked'; attempt: () => SyscallResult | null };

/** What the socket layer needs from the runner. */
export interface SocketHost {
  /** Current virtual time in ms, as the core takes it. */
  nowMs(): number;
  /** The stack, created on first use (so sysctls before it still apply). */
  tcp(): Tcp;
  readonly started: boolean;
  /** Mutable until the stack starts. */
  readonly config: Partial<TcpConfig>;
  readonly localAddress: Ipv4Address;
  readonly remoteAddress: Ipv4Address;
  readonly bindPort: number;
  readonly connectPort: number;
  acceptQueueLimit(backlog: number): number;
  /** The script now talks to a listener: the next inbound SYN starts a new flow. */
  listening(port: number): void;
  /** An active open: register the flow whose SYN is about to be matched. */
  connecting(conn: TcpConnection): void;
  line: number;
}

interface SockFd {
  fd: number;
  nonblocking: boolean;
  rcvBuf: number | undefined;
  sndBuf: number | undefined;
  noDelay: boolean;
  cork: boolean;
  keepAlive: boolean;
  keepIdleS: number | undefined;
  /** SO_LINGER {onoff=1, linger=0}: close() resets. */
  lingerZero: boolean;
  bindPort: number | null;
  listener: TcpListener | null;
  conn: TcpConnection | null;
  connecting: boolean;
  established: boolean;
  /** The error a kernel keeps in sk_err: reported once, by SO_ERROR or the next call. */
  soError: string | null;
  /** The peer's FIN arrived and everything before it is in the ring. */
  eof: boolean;
  /** The connection is gone (reset, timeout, or orderly close completed). */
  closed: boolean;
  shutWr: boolean;
}

const O_RDWR = SOCKET_CONSTANTS.O_RDWR!;
const O_NONBLOCK = SOCKET_CONSTANTS.O_NONBLOCK!;
const SOCK_NONBLOCK = SOCKET_CONSTANTS.SOCK_NONBLOCK!;
const MSG_DONTWAIT = SOCKET_CONSTANTS.MSG_DONTWAIT!;
const MSG_NOSIGNAL = SOCKET_CONSTANTS.MSG_NOSIGNAL!;

function ok(ret: number): SyscallOutcome {
  return { kind: 'done', result: { ret, errno: null } };
}

function err(errno: string): SyscallOutcome {
  return { kind: 'done', result: { ret: -1, errno } };
}

function fail(errno: string): SyscallResult {
  return { ret: -1, errno };
}

/** An integer argument: a number, a symbol, `a|b`, or `[n]`; null for `...`. */
export function evalInt(e: Expr, what: string): number | null {
  switch (e.kind) {
    case 'ellipsis':
      return null;
    case 'int':
      return e.value;
    case 'word': {
      const v = lookupSymbol(e.name);
      if (v === undefined) throw new ScriptUnsupported(`symbol ${e.name} in ${what}`);
      return v;
    }
    case 'binary':
      if (e.op === '|') {
        const a = evalInt(e.lhs, what);
        const b = evalInt(e.rhs, what);
        return (a ?? 0) | (b ?? 0);
      }
      break;
    case 'list':
      if (e.items.length === 1) return evalInt(e.items[0]!, what);
      break;
    case 'call':
      if ((e.name === 'htons' || e.name === 'htonl') && e.args.length === 1) return evalInt(e.args[0]!, what);
      break;
    default:
      break;
  }
  throw new ScriptUnsupported(`argument form in ${what}`);
}

/** Fields of a `{name=value, ...}` struct argument. */
function structFields(e: Expr): Map<string, Expr> | null {
  if (e.kind !== 'struct') return null;
  const fields = new Map<string, Expr>();
  for (const item of e.items) {
    if (item.kind === 'binary' && item.op === '=' && item.lhs.kind === 'word') fields.set(item.lhs.name, item.rhs);
  }
  return fields;
}

/** `{sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")}` */
function sockaddr(e: Expr, what: string): { port: number | null; address: Ipv4Address | null } {
  if (e.kind === 'ellipsis') return { port: null, address: null };
  const f = structFields(e);
  if (f === null) throw new ScriptUnsupported(`address argument of ${what}`);
  const family = f.get('sa_family');
  if (family !== undefined && family.kind === 'word' && family.name !== 'AF_INET') {
    throw new ScriptUnsupported(`${family.name} addresses`);
  }
  const portExpr = f.get('sin_port');
  const port = portExpr === undefined ? null : evalInt(portExpr, what);
  let address: Ipv4Address | null = null;
  const addrExpr = f.get('sin_addr');
  if (addrExpr !== undefined && addrExpr.kind === 'call' && addrExpr.name === 'inet_addr') {
    const arg = addrExpr.args[0];
    if (arg?.kind === 'string') address = parseIpv4(arg.value);
  }
  return { port, address };
}

function iovTotal(e: Expr, what: string): number {
  if (e.kind !== 'list') throw new ScriptUnsupported(`iovec argument of ${what}`);
  let total = 0;
  for (const item of e.items) {
    if (item.kind !== 'struct' || item.items.length !== 2) throw new ScriptUnsupported(`iovec argument of ${what}`);
    total += evalInt(item.items[1]!, what) ?? 0;
  }
  return total;
}

function stackErrno(e: unknown): string {
  if (e instanceof StackError) return e.code;
  throw e;
}

export class SocketTable {
  private readonly fds = new Map<number, SockFd>();
  private zeros = new Uint8Array(0);

  constructor(private readonly host: SocketHost) {}

  private zeroBuf(n: number): Uint8Array {
    if (this.zeros.length < n) this.zeros = new Uint8Array(Math.max(n, 65536));
    return this.zeros.subarray(0, n);
  }

  private allocFd(): number {
    let fd = 3;
    while (this.fds.has(fd)) fd++;
    return fd;
  }

  private newSock(fd: number, nonblocking: boolean): SockFd {
    const s: SockFd = {
      fd,
      nonblocking,
      rcvBuf: undefined,
      sndBuf: undefined,
      noDelay: false,
      cork: false,
      keepAlive: false,
      keepIdleS: undefined,
      lingerZero: false,
      bindPort: null,
      listener: null,
      conn: null,
      connecting: false,
      established: false,
      soError: null,
      eof: false,
      closed: false,
      shutWr: false,
    };
    this.fds.set(fd, s);
    return s;
  }

  private sock(args: Expr[], name: string): SockFd {
    const fd = evalInt(args[0] ?? { kind: 'ellipsis' }, name);
    if (fd === null) throw new ScriptUnsupported(`${name} without an fd`);
    const s = this.fds.get(fd);
    if (s === undefined) throw new BadFd();
    return s;
  }

  /** Connections of open fds, for the tcpi_* variables of code blocks. */
  connectionOf(fd: number): TcpConnection | null {
    return this.fds.get(fd)?.conn ?? null;
  }

  private attach(s: SockFd, conn: TcpConnection): void {
    s.conn = conn;
    conn.events = {
      onEstablished: () => {
        s.established = true;
        s.connecting = false;
      },
      onReadable: () => {},
      onWritable: () => {},
      onEnd: () => {
        s.eof = true;
      },
      onClose: (error) => {
        s.closed = true;
        s.connecting = false;
        if (error !== null) s.soError = error.code;
      },
    };
  }

  invoke(name: string, args: Expr[]): SyscallOutcome {
    try {
      switch (name) {
        case 'socket':
          return this.socket(args);
        case 'bind':
          return this.bind(args);
        case 'listen':
          return this.listen(args);
        case 'accept':
        case 'accept4':
          return this.accept(args, name);
        case 'connect':
          return this.connect(args);
        case 'read':
        case 'recv':
        case 'recvfrom':
          return this.read(args, name);
        case 'readv':
          return this.read(args, name);
        case 'write':
        case 'send':
        case 'sendto':
        case 'writev':
          return this.write(args, name);
        case 'close':
          return this.close(args);
        case 'shutdown':
          return this.shutdown(args);
        case 'setsockopt':
          return this.setsockopt(args);
        case 'getsockopt':
          return this.getsockopt(args);
        case 'fcntl':
          return this.fcntl(args);
        case 'ioctl':
          return this.ioctl(args);
        case 'getsockname':
        case 'getpeername':
          this.sock(args, name);
          return ok(0);
        default:
          throw new ScriptUnsupported(`system call ${name}`);
      }
    } catch (e) {
      if (e instanceof BadFd) return err('EBADF');
      throw e;
    }
  }

  private socket(args: Expr[]): SyscallOutcome {
    const domain = evalInt(args[0] ?? { kind: 'ellipsis' }, 'socket');
    const type = evalInt(args[1] ?? { kind: 'ellipsis' }, 'socket') ?? SOCKET_CONSTANTS.SOCK_STREAM!;
    const proto = evalInt(args[2] ?? { kind: 'ellipsis' }, 'socket');
    if (domain !== null && domain !== SOCKET_CONSTANTS.AF_INET) throw new ScriptUnsupported('IPv6 sockets');
    const base = type & 0xf;
    if (base !== SOCKET_CONSTANTS.SOCK_STREAM) throw new ScriptUnsupported(base === SOCKET_CONSTANTS.SOCK_DGRAM ? 'UDP sockets' : `socket type ${type}`);
    if (proto !== null && proto !== 0 && proto !== SOCKET_CONSTANTS.IPPROTO_TCP) throw new ScriptUnsupported(`socket protocol ${proto}`);
    const s = this.newSock(this.allocFd(), (type & SOCK_NONBLOCK) !== 0);
    return ok(s.fd);
  }

  private bind(args: Expr[]): SyscallOutcome {
    const s = this.sock(args, 'bind');
    if (s.bindPort !== null || s.conn !== null || s.listener !== null) return err('EINVAL');
    const addr = sockaddr(args[1] ?? { kind: 'ellipsis' }, 'bind');
    s.bindPort = addr.port ?? this.host.bindPort;
    return ok(0);
  }

  private listen(args: Expr[]): SyscallOutcome {
    const s = this.sock(args, 'listen');
    if (s.conn !== null) return err('EINVAL');
    const backlog = evalInt(args[1] ?? { kind: 'ellipsis' }, 'listen') ?? 128;
    if (s.listener !== null) return ok(0);
    const port = s.bindPort ?? this.host.bindPort;
    try {
      s.listener = this.host.tcp().listen({
        address: 0,
        port,
        backlog: this.host.acceptQueueLimit(Math.max(0, backlog)),
        ...(s.rcvBuf === undefined ? {} : { rcvBuf: s.rcvBuf }),
        ...(s.sndBuf === undefined ? {} : { sndBuf: s.sndBuf }),
        noDelay: s.noDelay,
      });
    } catch (e) {
      return err(stackErrno(e));
    }
    s.bindPort = port;
    this.host.listening(port);
    return ok(0);
  }

  private accept(args: Expr[], name: string): SyscallOutcome {
    const s = this.sock(args, name);
    const listener = s.listener;
    if (listener === null) return err('EINVAL');
    let flags = 0;
    if (name === 'accept4') flags = evalInt(args[3] ?? { kind: 'ellipsis' }, name) ?? 0;
    const attempt = (): SyscallResult | null => {
      const conn = listener.accept();
      if (conn === undefined) return null;
      const child = this.newSock(this.allocFd(), (flags & SOCK_NONBLOCK) !== 0);
      // Linux children inherit the listener's socket options.
      child.noDelay = s.noDelay;
      child.cork = s.cork;
      child.keepAlive = s.keepAlive;
      child.keepIdleS = s.keepIdleS;
      child.lingerZero = s.lingerZero;
      child.established = true;
      this.attach(child, conn);
      const now = this.host.nowMs();
      if (s.cork) conn.setCork(true, now);
      if (s.keepAlive) conn.setKeepAlive(true, (s.keepIdleS ?? 0) * 1000, now);
      return { ret: child.fd, errno: null };
    };
    return this.blockOrNot(s, attempt);
  }

  private blockOrNot(s: SockFd, attempt: () => SyscallResult | null, nonblocking = s.nonblocking): SyscallOutcome {
    const r = attempt();
    if (r !== null) return { kind: 'done', result: r };
    if (nonblocking) return err('EAGAIN');
    return { kind: 'blocked', attempt };
  }

  private connect(args: Expr[]): SyscallOutcome {
    const s = this.sock(args, 'connect');
    if (s.listener !== null) return err('EISCONN');
    if (s.conn !== null) {
      if (s.connecting) return err(s.nonblocking ? 'EALREADY' : 'EALREADY');
      if (s.soError !== null) {
        const e = s.soError;
        s.soError = null;
        return err(e);
      }
      return err('EISCONN');
    }
    const addr = sockaddr(args[1] ?? { kind: 'ellipsis' }, 'connect');
    const tcp = this.host.tcp();
    let conn: TcpConnection;
    try {
      conn = tcp.connect(
        {
          remoteAddress: addr.address ?? this.host.remoteAddress,
          remotePort: addr.port ?? this.host.connectPort,
          ...(s.bindPort === null ? {} : { localPort: s.bindPort }),
          ...(s.rcvBuf === undefined ? {} : { rcvBuf: s.rcvBuf }),
          ...(s.sndBuf === undefined ? {} : { sndBuf: s.sndBuf }),
          noDelay: s.noDelay,
        },
        this.host.nowMs(),
      );
    } catch (e) {
      return err(stackErrno(e));
    }
    this.host.connecting(conn);
    s.connecting = true;
    this.attach(s, conn);
    const now = this.host.nowMs();
    if (s.cork) conn.setCork(true, now);
    if (s.keepAlive) conn.setKeepAlive(true, (s.keepIdleS ?? 0) * 1000, now);
    if (s.nonblocking) return err('EINPROGRESS');
    return {
      kind: 'blocked',
      attempt: () => {
        if (s.established) return { ret: 0, errno: null };
        if (s.soError !== null) {
          const e = s.soError;
          s.soError = null;
          return fail(e);
        }
        if (s.closed) return fail('ECONNREFUSED');
        return null;
      },
    };
  }

  private takeError(s: SockFd): string | null {
    const e = s.soError;
    s.soError = null;
    return e;
  }

  private read(args: Expr[], name: string): SyscallOutcome {
    const s = this.sock(args, name);
    let count: number;
    if (name === 'readv') count = iovTotal(args[1] ?? { kind: 'ellipsis' }, name);
    else count = evalInt(args[2] ?? { kind: 'ellipsis' }, name) ?? 0;
    let nonblocking = s.nonblocking;
    if (name === 'recv' || name === 'recvfrom') {
      const flags = evalInt(args[3] ?? { kind: 'ellipsis' }, name) ?? 0;
      if ((flags & ~MSG_DONTWAIT) !== 0) throw new ScriptUnsupported(`${name} flags ${flags}`);
      if ((flags & MSG_DONTWAIT) !== 0) nonblocking = true;
    }
    const conn = s.conn;
    if (conn === null) return err('ENOTCONN');
    const attempt = (): SyscallResult | null => {
      if (count === 0) return { ret: 0, errno: null };
      const avail = conn.readableLength;
      if (avail > 0) {
        const n = conn.read(new Uint8Array(Math.min(count, avail)), this.host.nowMs());
        return { ret: n, errno: null };
      }
      const e = this.takeError(s);
      if (e !== null) return fail(e);
      if (s.eof || s.closed) return { ret: 0, errno: null };
      return null;
    };
    return this.blockOrNot(s, attempt, nonblocking);
  }

  private write(args: Expr[], name: string): SyscallOutcome {
    const s = this.sock(args, name);
    let count: number;
    if (name === 'writev') count = iovTotal(args[1] ?? { kind: 'ellipsis' }, name);
    else count = evalInt(args[2] ?? { kind: 'ellipsis' }, name) ?? 0;
    let nonblocking = s.nonblocking;
    if (name === 'send' || name === 'sendto') {
      const flags = evalInt(args[3] ?? { kind: 'ellipsis' }, name) ?? 0;
      if ((flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL)) !== 0) throw new ScriptUnsupported(`${name} flags ${flags}`);
      if ((flags & MSG_DONTWAIT) !== 0) nonblocking = true;
    }
    const conn = s.conn;
    if (conn === null) return err('EPIPE');
    let total = 0;
    const attempt = (): SyscallResult | null => {
      const e = this.takeError(s);
      if (e !== null) return total > 0 ? { ret: total, errno: null } : fail(e);
      if (s.shutWr || s.closed) return total > 0 ? { ret: total, errno: null } : fail('EPIPE');
      // Linux waits for the connection to be established (sk_stream_wait_connect).
      if (conn.state === 'SYN-SENT' || conn.state === 'SYN-RECEIVED') return null;
      if (count === 0) return { ret: 0, errno: null };
      let n: number;
      try {
        n = conn.write(this.zeroBuf(count - total), this.host.nowMs());
      } catch (x) {
        const code = stackErrno(x);
        return total > 0 ? { ret: total, errno: null } : fail(code);
      }
      total += n;
      if (total === count) return { ret: total, errno: null };
      return null;
    };
    const r = attempt();
    if (r !== null) return { kind: 'done', result: r };
    if (nonblocking) return total > 0 ? ok(total) : err('EAGAIN');
    return { kind: 'blocked', attempt };
  }

  private close(args: Expr[]): SyscallOutcome {
    const s = this.sock(args, 'close');
    const now = this.host.nowMs();
    this.fds.delete(s.fd);
    if (s.listener !== null) s.listener.close(now);
    const conn = s.conn;
    if (conn !== null && !s.closed && conn.state !== 'CLOSED') {
      // RFC 2525 §2.17 / Linux: closing with unread data resets the
      // connection, and so does SO_LINGER with a zero timeout.
      if (s.lingerZero || conn.readableLength > 0) conn.abort(now);
      else conn.shutdown(now);
    }
    return ok(0);
  }

  private shutdown(args: Expr[]): SyscallOutcome {
    const s = this.sock(args, 'shutdown');
    const how = evalInt(args[1] ?? { kind: 'ellipsis' }, 'shutdown') ?? SOCKET_CONSTANTS.SHUT_RDWR!;
    const conn = s.conn;
    if (conn === null || (!s.established && !s.connecting)) return err('ENOTCONN');
    if (how === SOCKET_CONSTANTS.SHUT_RD) return ok(0);
    if (how !== SOCKET_CONSTANTS.SHUT_WR && how !== SOCKET_CONSTANTS.SHUT_RDWR) return err('EINVAL');
    if (!s.shutWr && !s.closed) conn.shutdown(this.host.nowMs());
    s.shutWr = true;
    return ok(0);
  }

  private setsockopt(args: Expr[]): SyscallOutcome {
    const s = this.sock(args, 'setsockopt');
    const level = evalInt(args[1] ?? { kind: 'ellipsis' }, 'setsockopt');
    const optExpr = args[2] ?? { kind: 'ellipsis' };
    const optName = optExpr.kind === 'word' ? optExpr.name : String(evalInt(optExpr, 'setsockopt'));
    const valExpr = args[3] ?? { kind: 'ellipsis' };
    const now = this.host.nowMs();
    const conn = s.conn;
    const intVal = (): number => evalInt(valExpr, `setsockopt ${optName}`) ?? 0;
    if (level === SOCKET_CONSTANTS.SOL_SOCKET) {
      switch (optName) {
        case 'SO_REUSEADDR':
        case 'SO_REUSEPORT':
          intVal();
          return ok(0);
        case 'SO_RCVBUF':
        case 'SO_SNDBUF': {
          if (conn !== null || s.listener !== null) throw new ScriptUnsupported(`setsockopt ${optName} after listen/connect (ring sizes are fixed at creation)`);
          const v = intVal();
          if (v <= 0) return err('EINVAL');
          if (optName === 'SO_RCVBUF') s.rcvBuf = v;
          else s.sndBuf = v;
          return ok(0);
        }
        case 'SO_KEEPALIVE':
          s.keepAlive = intVal() !== 0;
          if (conn !== null) conn.setKeepAlive(s.keepAlive, (s.keepIdleS ?? 0) * 1000, now);
          return ok(0);
        case 'SO_LINGER': {
          const f = structFields(valExpr);
          if (f === null) throw new ScriptUnsupported('setsockopt SO_LINGER value form');
          const on = evalInt(f.get('onoff') ?? { kind: 'int', value: 0, text: '0' }, 'SO_LINGER') ?? 0;
          const secs = evalInt(f.get('linger') ?? { kind: 'int', value: 0, text: '0' }, 'SO_LINGER') ?? 0;
          if (on !== 0 && secs !== 0) throw new ScriptUnsupported('SO_LINGER with a non-zero timeout');
          s.lingerZero = on !== 0;
          return ok(0);
        }
        default:
          throw new ScriptUnsupported(`setsockopt ${optName}`);
      }
    }
    if (level === SOCKET_CONSTANTS.IPPROTO_TCP) {
      switch (optName) {
        case 'TCP_NODELAY':
          s.noDelay = intVal() !== 0;
          if (conn !== null) conn.setNoDelay(s.noDelay, now);
          return ok(0);
        case 'TCP_CORK':
          s.cork = intVal() !== 0;
          if (conn !== null) conn.setCork(s.cork, now);
          return ok(0);
        case 'TCP_KEEPIDLE':
        case 'TCP_KEEPALIVE': {
          const v = intVal();
          if (v < 1) return err('EINVAL');
          s.keepIdleS = v;
          if (conn !== null && s.keepAlive) conn.setKeepAlive(true, v * 1000, now);
          return ok(0);
        }
        case 'TCP_KEEPINTVL':
        case 'TCP_KEEPCNT': {
          // The core keeps these stack-wide: settable while the stack has not started.
          const v = intVal();
          if (v < 1) return err('EINVAL');
          const key = optName === 'TCP_KEEPINTVL' ? 'keepAliveIntervalMs' : 'keepAliveCount';
          const value = optName === 'TCP_KEEPINTVL' ? v * 1000 : v;
          if (this.host.started) {
            if (this.host.tcp().config[key] === value) return ok(0);
            throw new ScriptUnsupported(`setsockopt ${optName} after the first listen/connect (stack-wide in tuntcp)`);
          }
          this.host.config[key] = value;
          return ok(0);
        }
        default:
          throw new ScriptUnsupported(`setsockopt ${optName}`);
      }
    }
    throw new ScriptUnsupported(`setsockopt level ${String(level)}`);
  }

  private getsockopt(args: Expr[]): SyscallOutcome {
    const s = this.sock(args, 'getsockopt');
    const level = evalInt(args[1] ?? { kind: 'ellipsis' }, 'getsockopt');
    const optExpr = args[2] ?? { kind: 'ellipsis' };
    const optName = optExpr.kind === 'word' ? optExpr.name : String(evalInt(optExpr, 'getsockopt'));
    const conn = s.conn;
    let value: number;
    let symbolic: (v: number) => string = String;
    if (level === SOCKET_CONSTANTS.SOL_SOCKET) {
      switch (optName) {
        case 'SO_ERROR':
          value = ERRNO[this.takeError(s) ?? ''] ?? 0;
          symbolic = (v) => (v === 0 ? '0' : errnoName(v));
          break;
        case 'SO_KEEPALIVE':
          value = s.keepAlive ? 1 : 0;
          break;
        case 'SO_RCVBUF':
          value = conn?.getInfo().rcvBufSize ?? s.rcvBuf ?? this.host.config.rcvBuf ?? 65536;
          break;
        case 'SO_SNDBUF':
          value = conn?.getInfo().sndBufSize ?? s.sndBuf ?? this.host.config.sndBuf ?? 65536;
          break;
        case 'SO_TYPE':
          value = SOCKET_CONSTANTS.SOCK_STREAM!;
          break;
        case 'SO_ACCEPTCONN':
          value = s.listener !== null ? 1 : 0;
          break;
        default:
          throw new ScriptUnsupported(`getsockopt ${optName}`);
      }
    } else if (level === SOCKET_CONSTANTS.IPPROTO_TCP) {
      switch (optName) {
        case 'TCP_NODELAY':
          value = s.noDelay ? 1 : 0;
          break;
        case 'TCP_CORK':
          value = s.cork ? 1 : 0;
          break;
        case 'TCP_MAXSEG':
          if (conn === null) throw new ScriptUnsupported('getsockopt TCP_MAXSEG before a connection exists');
          value = conn.getInfo().mss;
          break;
        case 'TCP_KEEPIDLE':
        case 'TCP_KEEPALIVE':
          value = s.keepIdleS ?? Math.round((this.host.config.keepAliveIdleMs ?? 7_200_000) / 1000);
          break;
        default:
          throw new ScriptUnsupported(`getsockopt ${optName}`);
      }
    } else {
      throw new ScriptUnsupported(`getsockopt level ${String(level)}`);
    }
    this.checkOut(args[3], value, `getsockopt ${optName}`, symbolic);
    return ok(0);
  }

  /** Compares an output argument (`[expected]`) with what the call produced. */
  private checkOut(e: Expr | undefined, actual: number, what: string, symbolic: (v: number) => string = String): void {
    if (e === undefined || e.kind === 'ellipsis') return;
    const expected = evalInt(e, what);
    if (expected === null || expected === actual) return;
    throw new ScriptFailure(this.host.line, `${what} returned value ${symbolic(actual)}, expected ${symbolic(expected)}`);
  }

  private fcntl(args: Expr[]): SyscallOutcome {
    const s = this.sock(args, 'fcntl');
    const cmdExpr = args[1] ?? { kind: 'ellipsis' };
    const cmd = evalInt(cmdExpr, 'fcntl');
    if (cmd === SOCKET_CONSTANTS.F_GETFL) return ok(O_RDWR | (s.nonblocking ? O_NONBLOCK : 0));
    if (cmd === SOCKET_CONSTANTS.F_SETFL) {
      const flags = evalInt(args[2] ?? { kind: 'ellipsis' }, 'fcntl') ?? 0;
      s.nonblocking = (flags & O_NONBLOCK) !== 0;
      return ok(0);
    }
    if (cmd === SOCKET_CONSTANTS.F_GETFD || cmd === SOCKET_CONSTANTS.F_SETFD) return ok(0);
    throw new ScriptUnsupported(`fcntl command ${cmdExpr.kind === 'word' ? cmdExpr.name : String(cmd)}`);
  }

  private ioctl(args: Expr[]): SyscallOutcome {
    const s = this.sock(args, 'ioctl');
    const reqExpr = args[1] ?? { kind: 'ellipsis' };
    const req = evalInt(reqExpr, 'ioctl');
    const conn = s.conn;
    if (req === SOCKET_CONSTANTS.FIONREAD) {
      if (s.listener !== null) return err('EINVAL');
      this.checkOut(args[2], conn?.readableLength ?? 0, 'ioctl FIONREAD');
      return ok(0);
    }
    if (req === SOCKET_CONSTANTS.SIOCOUTQ) {
      this.checkOut(args[2], conn?.getInfo().sndBufUsed ?? 0, 'ioctl SIOCOUTQ');
      return ok(0);
    }
    throw new ScriptUnsupported(`ioctl ${reqExpr.kind === 'word' ? reqExpr.name : String(req)}`);
  }
}

class BadFd extends Error {}
