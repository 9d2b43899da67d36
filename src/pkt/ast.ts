/**
 * The parsed form of a packetdrill script: option lines, then a timeline of
 * events. Field names follow packetdrill's `script.h` where one exists.
 * Times are integer microseconds, as in packetdrill.
 */

export type TimeSpec =
  | { kind: 'absolute'; usecs: number }
  | { kind: 'relative'; usecs: number }
  /** `*`: any time (outbound packets only). */
  | { kind: 'any' }
  /** `a~b`. */
  | { kind: 'absolute-range'; usecs: number; endUsecs: number }
  /** `+a~+b`. */
  | { kind: 'relative-range'; usecs: number; endUsecs: number };

export interface ScriptOption {
  name: string;
  value: string | null;
  line: number;
}

export type Expr =
  | { kind: 'ellipsis' }
  | { kind: 'int'; value: number; text: string }
  | { kind: 'word'; name: string }
  | { kind: 'string'; value: string; ellipsis: boolean }
  /** `a | b` (bitwise or), `name = value` (a named field), `"a" "b"` (concatenation: op '.'). */
  | { kind: 'binary'; op: '|' | '=' | '.'; lhs: Expr; rhs: Expr }
  | { kind: 'list'; items: Expr[] }
  /** `{ a, b, ... }`: sockaddr, linger, iovec, pollfd and the like, field by field. */
  | { kind: 'struct'; items: Expr[] }
  /** `htons(8080)`, `inet_addr("1.2.3.4")`, `msg_name(...)`. */
  | { kind: 'call'; name: string; args: Expr[] };

export type TcpOptionSpec =
  | { kind: 'nop' }
  | { kind: 'eol' }
  | { kind: 'mss'; value: number }
  | { kind: 'wscale'; value: number }
  | { kind: 'sackOK' }
  | { kind: 'sack'; blocks: Array<{ left: number; right: number }> }
  | { kind: 'timestamp'; val: number; ecr: number }
  | { kind: 'md5'; digest: string }
  | { kind: 'fastopen'; cookie: string; experimental: boolean };

/** `[ect0]`, `(tos 0x10)`, `[ttl 64]` and friends before the ports/flags. */
export interface IpInfo {
  /** ECN codepoint to set/check; 'ect01' = either ECT(0) or ECT(1) (outbound only). */
  ecn?: 'noecn' | 'ect0' | 'ect1' | 'ce' | 'ect01';
  tos?: number;
  ttl?: number;
  flowLabel?: number;
}

export interface TcpPacketSpec {
  protocol: 'tcp';
  ipInfo: IpInfo | null;
  /** Explicit `src>dst` ports, when the script gives them. */
  srcPort: number | null;
  dstPort: number | null;
  /** Flag letters as written, '.' for ACK ("S.", "P.", "F.", "R", "."). */
  flags: string;
  /** The control bits the letters stand for. */
  flagBits: number;
  seq: number;
  len: number;
  /** `ack N`, or null when absent (packetdrill writes 0 then). */
  ack: number | null;
  /** `win N`, or null: the window is then not checked on outbound packets. */
  win: number | null;
  urg: number | null;
  /** null = `<...>` (options not checked); [] = no options at all. */
  options: TcpOptionSpec[] | null;
}

/** UDP, ICMP, SCTP and encapsulations are refused at parse time (`unsupported:`), so a packet is TCP. */
export type PacketSpec = TcpPacketSpec;

export interface PacketEvent {
  type: 'packet';
  line: number;
  time: TimeSpec;
  direction: 'inbound' | 'outbound';
  packet: PacketSpec;
}

export interface SyscallEvent {
  type: 'syscall';
  line: number;
  time: TimeSpec;
  name: string;
  args: Expr[];
  /** `...T` before the name: the call blocks and returns at T (same time base as the start). */
  endUsecs: number | null;
  result: Expr;
  /** `EAGAIN` in `= -1 EAGAIN (Resource temporarily unavailable)`. */
  errno: string | null;
  note: string | null;
}

export interface CommandEvent {
  type: 'command';
  line: number;
  time: TimeSpec;
  command: string;
}

export interface CodeEvent {
  type: 'code';
  line: number;
  time: TimeSpec;
  code: string;
}

export type ScriptEvent = PacketEvent | SyscallEvent | CommandEvent | CodeEvent;

export interface Script {
  options: ScriptOption[];
  /** A back-quoted command before the first event, without a time (packetdrill's init command). */
  initCommand: { command: string; line: number } | null;
  events: ScriptEvent[];
  /** A back-quoted command after the last event, without a time. */
  cleanupCommand: { command: string; line: number } | null;
  /** Every symbol defined for this parse (profile, -D, --define), after the script's own. */
  defines: ReadonlyMap<string, string>;
}
