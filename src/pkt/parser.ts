/**
 * A recursive-descent parser for packetdrill scripts, accepting the language
 * of packetdrill's `parser.y` (google/packetdrill) for TCP over IPv4:
 *
 *   script     := option* init_command? event+ cleanup_command?
 *   option     := --name [= value]           (and our `-D NAME=value`)
 *   event      := time action
 *   time       := +t | t | * | t~t | +t~+t  (seconds, integer or float)
 *   action     := packet | syscall | `command` | %{ code }%
 *   packet     := (<|>) ip_info? (sport>dport)? flags seq:end(len)
 *                 (ack N)? (win N)? (urg N)? (<options> | <...>)?
 *   syscall    := (...t)? name(args) = expr (ERRNO (note))?
 *
 * plus a line-based pre-pass for `#ifdef NAME / #ifndef / #else / #endif`
 * (and `#define`), as the nplab fork's scripts use them, with STANDARD
 * defined by default. The semantic checks packetdrill makes at parse time
 * (time ranges and `*` only on outbound packets, `<...>` only outbound,
 * seq:end(len) consistent, values in range) are made here too, with the
 * script line in the error.
 *
 * Things packetdrill parses that we cannot run (UDP, ICMP, SCTP, IPv6,
 * encapsulation, fuzzing, AccECN) raise PktUnsupportedError so that the
 * script is reported `unsupported:` rather than failed.
 */
import type {
  Expr,
  IpInfo,
  Script,
  ScriptEvent,
  ScriptOption,
  TcpOptionSpec,
  TcpPacketSpec,
  TimeSpec,
} from './ast.ts';
import { PktSyntaxError, tokenize, type Token } from './lexer.ts';
import { tcpOptionsLength } from './tcp-options.ts';
import { ACK, CWR, ECE, FIN, PSH, RST, SYN, URG } from '../tcp/flags.ts';

export { PktSyntaxError } from './lexer.ts';

/** A construct packetdrill accepts but this interpreter cannot run. */
export class PktUnsupportedError extends Error {
  readonly feature: string;
  readonly line: number | null;

  constructor(feature: string, line: number | null = null) {
    super(`unsupported: ${feature}`);
    this.name = 'PktUnsupportedError';
    this.feature = feature;
    this.line = line;
  }
}

export interface ParseOptions {
  /** Symbols defined before the script's own (`-D NAME=value` on the command line, profiles). */
  defines?: Readonly<Record<string, string>>;
}

/** Symbols every script sees; nplab's scripts test `#ifdef STANDARD`. */
export const DEFAULT_DEFINES: Readonly<Record<string, string>> = Object.freeze({ STANDARD: '1' });

// packetdrill's flag letters (tcp_packet.c): '.' is ACK, W is CWR.
const FLAG_LETTERS: Readonly<Record<string, number>> = {
  F: FIN,
  S: SYN,
  R: RST,
  P: PSH,
  '.': ACK,
  U: URG,
  E: ECE,
  W: CWR,
};

const U32_MAX = 0xffffffff;

// ---------------------------------------------------------------------------
// #ifdef pre-pass

interface CondFrame {
  /** Lines in this branch are kept. */
  active: boolean;
  /** Some branch of this #if chain was already taken. */
  taken: boolean;
  /** The enclosing block is active. */
  parentActive: boolean;
  line: number;
}

function evalIfCondition(expr: string, defines: Map<string, string>, line: number): boolean {
  const e = expr.trim();
  let m = /^!?\s*defined\s*\(?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)?$/.exec(e);
  if (m !== null) return e.startsWith('!') ? !defines.has(m[1]!) : defines.has(m[1]!);
  if (/^-?\d+$/.test(e)) return Number(e) !== 0;
  m = /^([A-Za-z_][A-Za-z0-9_]*)$/.exec(e);
  if (m !== null) {
    const v = defines.get(m[1]!);
    return v !== undefined && v !== '0' && v !== '';
  }
  throw new PktSyntaxError(line, `#if condition not understood: ${e}`);
}

/**
 * Resolves #ifdef/#ifndef/#if/#else/#elif/#endif/#define/#undef. Removed
 * lines become empty lines so that every line number stays the script's
 * own. `--define=NAME=value` option lines seen on the way also define NAME
 * for the conditionals below them.
 */
export function preprocess(source: string, defines: Map<string, string>): string {
  const lines = source.split('\n');
  const stack: CondFrame[] = [];
  const active = (): boolean => stack.length === 0 || stack[stack.length - 1]!.active;
  let inComment = false;
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const text = lines[i]!;
    const trimmed = text.trim();
    // Directives inside a /* */ comment are comment text, not directives.
    const wasInComment = inComment;
    inComment = updateCommentState(text, inComment);
    const m = wasInComment ? null : /^#\s*([a-z]+)\b(.*)$/.exec(trimmed);
    if (m === null) {
      if (!active()) {
        // Keep comment delimiters balanced even in a skipped block.
        lines[i] = '';
        continue;
      }
      const def = /^--define=([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
      if (def !== null) defines.set(def[1]!, def[2]!.trim());
      continue;
    }
    const directive = m[1]!;
    const rest = m[2]!.replace(/\/\/.*$/, '').trim();
    lines[i] = '';
    switch (directive) {
      case 'ifdef':
      case 'ifndef': {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(rest)) throw new PktSyntaxError(lineNo, `#${directive} needs one name`);
        const cond = defines.has(rest) === (directive === 'ifdef');
        const parentActive = active();
        stack.push({ active: parentActive && cond, taken: cond, parentActive, line: lineNo });
        break;
      }
      case 'if': {
        const parentActive = active();
        const cond = parentActive ? evalIfCondition(rest, defines, lineNo) : false;
        stack.push({ active: parentActive && cond, taken: cond, parentActive, line: lineNo });
        break;
      }
      case 'elif': {
        const top = stack[stack.length - 1];
        if (top === undefined) throw new PktSyntaxError(lineNo, '#elif without #if');
        const cond = !top.taken && top.parentActive && evalIfCondition(rest, defines, lineNo);
        top.active = top.parentActive && cond;
        top.taken = top.taken || cond;
        break;
      }
      case 'else': {
        const top = stack[stack.length - 1];
        if (top === undefined) throw new PktSyntaxError(lineNo, '#else without #ifdef');
        top.active = top.parentActive && !top.taken;
        top.taken = true;
        break;
      }
      case 'endif':
        if (stack.pop() === undefined) throw new PktSyntaxError(lineNo, '#endif without #ifdef');
        break;
      case 'define': {
        if (!active()) break;
        const d = /^([A-Za-z_][A-Za-z0-9_]*)(?:\s+(.*))?$/.exec(rest);
        if (d === null) throw new PktSyntaxError(lineNo, '#define needs a name');
        defines.set(d[1]!, (d[2] ?? '1').trim());
        break;
      }
      case 'undef':
        if (active()) defines.delete(rest);
        break;
      default:
        throw new PktSyntaxError(lineNo, `unknown directive #${directive}`);
    }
  }
  const open = stack[stack.length - 1];
  if (open !== undefined) throw new PktSyntaxError(open.line, '#ifdef without #endif');
  return lines.join('\n');
}

function updateCommentState(text: string, inComment: boolean): boolean {
  let i = 0;
  let state = inComment;
  while (i < text.length) {
    if (state) {
      const end = text.indexOf('*/', i);
      if (end < 0) return true;
      state = false;
      i = end + 2;
    } else {
      const slash = text.indexOf('//', i);
      const open = text.indexOf('/*', i);
      if (open < 0 || (slash >= 0 && slash < open)) return false;
      state = true;
      i = open + 2;
    }
  }
  return state;
}

// ---------------------------------------------------------------------------
// The parser proper

class Parser {
  private pos = 0;

  constructor(private tokens: Token[]) {}

  peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }

  next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  isPunct(ch: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'punct' && t.text === ch;
  }

  isWord(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.kind === 'word' && t.text === text;
  }

  fail(message: string, t: Token = this.peek()): never {
    const at = t.kind === 'eof' ? 'end of script' : `'${describe(t)}'`;
    throw new PktSyntaxError(t.line, `parse error at ${at}: ${message}`);
  }

  expectPunct(ch: string, what = `'${ch}'`): Token {
    if (!this.isPunct(ch)) this.fail(`expected ${what}`);
    return this.next();
  }

  expectWord(text: string): Token {
    if (!this.isWord(text)) this.fail(`expected '${text}'`);
    return this.next();
  }

  expectInteger(what: string, min: number, max: number): number {
    const t = this.peek();
    if (t.kind !== 'integer' && t.kind !== 'hex') this.fail(`expected ${what} (an integer)`);
    this.next();
    if (!Number.isSafeInteger(t.value) || t.value < min || t.value > max) {
      throw new PktSyntaxError(t.line, `${what} ${t.text} out of range (${min}..${max})`);
    }
    return t.value;
  }

  /** Replaces every WORD that names a define by the define's tokens (packetdrill's lexer `word()`). */
  substituteDefines(defines: ReadonlyMap<string, string>): void {
    const out: Token[] = this.tokens.slice(0, this.pos);
    for (let i = this.pos; i < this.tokens.length; i++) {
      const t = this.tokens[i]!;
      const value = t.kind === 'word' ? defines.get(t.text) : undefined;
      if (value === undefined || value === t.text) {
        out.push(t);
        continue;
      }
      for (const sub of tokenize(value)) if (sub.kind !== 'eof') out.push({ ...sub, line: t.line });
    }
    this.tokens = out;
  }

  // -- options ---------------------------------------------------------------

  /** `--name`, `--name=value`, `-D NAME=value`. Returns null when the options section ended. */
  parseOption(): ScriptOption | null {
    const t = this.peek();
    if (t.kind === 'option') {
      this.next();
      if (!this.isPunct('=')) return { name: t.text, value: null, line: t.line };
      this.next();
      return { name: t.text, value: this.parseOptionValue(), line: t.line };
    }
    if (this.isPunct('-') && this.peek(1).kind === 'word' && this.peek(1).text === 'D') {
      this.next();
      this.next();
      return { name: 'define', value: this.parseOptionValue(), line: t.line };
    }
    return null;
  }

  parseOptionValue(): string {
    const t = this.next();
    switch (t.kind) {
      case 'integer':
      case 'hex':
      case 'float':
      case 'ipv4':
      case 'string':
        return t.text;
      case 'word': {
        if (!this.isPunct('=')) return t.text;
        this.next();
        const v = this.next();
        if (v.kind === 'string') return `${t.text}="${v.text}"`;
        if (v.kind === 'backquoted') return `${t.text}=\`${v.text}\``;
        if (v.kind === 'word' || v.kind === 'integer' || v.kind === 'hex' || v.kind === 'float' || v.kind === 'ipv4') {
          return `${t.text}=${v.text}`;
        }
        return this.fail('expected a value after NAME=', v);
      }
      default:
        return this.fail('expected an option value', t);
    }
  }

  // -- events ---------------------------------------------------------------

  atEventStart(): boolean {
    const t = this.peek();
    return t.kind === 'integer' || t.kind === 'float' || this.isPunct('+') || this.isPunct('*');
  }

  parseTimeValue(): number {
    const t = this.peek();
    if (t.kind !== 'integer' && t.kind !== 'float') this.fail('expected a time in seconds');
    this.next();
    if (t.value < 0) throw new PktSyntaxError(t.line, 'semantic error: negative time');
    // packetdrill: (s64)(secs * 1e6), truncating; rounding spares us 0.1 * 1e6 = 99999.99...
    return Math.round(t.value * 1e6);
  }

  parseEventTime(): { time: TimeSpec; line: number } {
    const first = this.peek();
    if (this.isPunct('*')) {
      this.next();
      return { time: { kind: 'any' }, line: first.line };
    }
    if (this.isPunct('+')) {
      this.next();
      const line = this.peek().line;
      const usecs = this.parseTimeValue();
      if (this.isPunct('~')) {
        this.next();
        this.expectPunct('+', "'+' (a relative range is +a~+b)");
        const endUsecs = this.parseTimeValue();
        return { time: { kind: 'relative-range', usecs, endUsecs }, line };
      }
      return { time: { kind: 'relative', usecs }, line };
    }
    const usecs = this.parseTimeValue();
    if (this.isPunct('~')) {
      this.next();
      const endUsecs = this.parseTimeValue();
      return { time: { kind: 'absolute-range', usecs, endUsecs }, line: first.line };
    }
    return { time: { kind: 'absolute', usecs }, line: first.line };
  }

  parseEvent(): ScriptEvent {
    const { time, line } = this.parseEventTime();
    if ((time.kind === 'absolute-range' || time.kind === 'relative-range') && time.endUsecs < time.usecs) {
      throw new PktSyntaxError(line, 'semantic error: time range is backwards');
    }
    const t = this.peek();
    let event: ScriptEvent;
    if (this.isPunct('<') || this.isPunct('>')) {
      this.next();
      const direction = t.text === '<' ? 'inbound' : 'outbound';
      event = { type: 'packet', line, time, direction, packet: this.parseTcpPacket(direction) };
    } else if (t.kind === 'backquoted') {
      this.next();
      event = { type: 'command', line, time, command: t.text };
    } else if (t.kind === 'code') {
      this.next();
      event = { type: 'code', line, time, code: t.text };
    } else if (t.kind === 'ellipsis' || t.kind === 'word') {
      event = this.parseSyscall(line, time);
    } else {
      this.fail('expected a packet (< or >), a system call, a `command` or %{ code }% after the time');
    }
    const outbound = event.type === 'packet' && event.direction === 'outbound';
    if (time.kind === 'any' && !outbound) {
      throw new PktSyntaxError(line, 'semantic error: event time <star> can only be used with outbound packets');
    }
    if ((time.kind === 'absolute-range' || time.kind === 'relative-range') && !outbound) {
      throw new PktSyntaxError(line, 'semantic error: event time range can only be used with outbound packets');
    }
    return event;
  }

  // -- packets --------------------------------------------------------------

  parseIpInfo(): IpInfo | null {
    const open = this.peek();
    if (!(this.isPunct('(') || this.isPunct('['))) return null;
    const close = open.text === '(' ? ')' : ']';
    const word = this.peek(1);
    if (word.kind !== 'word' || !['tos', 'ttl', 'flowlabel', 'noecn', 'ect0', 'ect1', 'ce', 'ect01'].includes(word.text)) {
      return null;
    }
    this.next();
    const info: IpInfo = {};
    for (;;) {
      const w = this.next();
      if (w.kind !== 'word') this.fail('expected tos, ttl, flowlabel or an ECN codepoint', w);
      switch (w.text) {
        case 'noecn':
        case 'ect0':
        case 'ect1':
        case 'ce':
        case 'ect01':
          info.ecn = w.text;
          break;
        case 'tos':
          info.tos = this.expectInteger('tos', 0, 255);
          break;
        case 'ttl':
          info.ttl = this.expectInteger('ttl', 0, 255);
          break;
        case 'flowlabel':
          info.flowLabel = this.expectInteger('flowlabel', 0, 0xfffff);
          break;
        default:
          this.fail('expected tos, ttl, flowlabel or an ECN codepoint', w);
      }
      if (this.isPunct(',')) {
        this.next();
        continue;
      }
      this.expectPunct(close);
      return info;
    }
  }

  parseTcpPacket(direction: 'inbound' | 'outbound'): TcpPacketSpec {
    const first = this.peek();
    if (first.kind === 'word' && ['ipv4', 'ipv6', 'gre', 'GREv0', 'mpls'].includes(first.text)) {
      throw new PktUnsupportedError(`packet encapsulation (${first.text})`, first.line);
    }
    const ipInfo = this.parseIpInfo();
    if (ipInfo?.flowLabel !== undefined) throw new PktUnsupportedError('IPv6 flow label', first.line);
    if (ipInfo?.ecn === 'ect01' && direction !== 'outbound') {
      throw new PktSyntaxError(first.line, 'semantic error: [ect01] can only be used with outbound packets');
    }
    const proto = this.peek();
    if (proto.kind === 'word' && ['udp', 'udplite', 'icmp', 'sctp'].includes(proto.text)) {
      throw new PktUnsupportedError(`${proto.text} packets`, proto.line);
    }
    let srcPort: number | null = null;
    let dstPort: number | null = null;
    if (this.peek().kind === 'integer' && this.isPunct('>', 1) && this.peek(2).kind === 'integer') {
      srcPort = this.expectInteger('src port', 0, 0xffff);
      this.next();
      dstPort = this.expectInteger('dst port', 0, 0xffff);
    }
    const flags = this.parseFlags();
    let flagBits = 0;
    for (const ch of flags) {
      const bit = FLAG_LETTERS[ch];
      if (bit !== undefined) {
        flagBits |= bit;
        continue;
      }
      // packetdrill also knows A (the AccECN AE bit) and 0-7 (the ACE field).
      if (ch === 'A' || (ch >= '0' && ch <= '7')) throw new PktUnsupportedError(`AccECN flags '${flags}'`, first.line);
      throw new PktSyntaxError(first.line, `Invalid TCP flag: '${ch}' in '${flags}'`);
    }
    const seqStart = this.expectInteger('TCP start sequence number', 0, U32_MAX);
    this.expectPunct(':', "':' (seq is start:end(len))");
    const seqEnd = this.expectInteger('TCP end sequence number', 0, U32_MAX);
    this.expectPunct('(');
    const len = this.expectInteger('TCP payload size', 0, 0xffff);
    this.expectPunct(')');
    if (seqEnd !== seqStart + len) {
      throw new PktSyntaxError(first.line, 'semantic error: inconsistent TCP sequence numbers and payload size');
    }
    let ack: number | null = null;
    if (this.isWord('ack')) {
      this.next();
      ack = this.expectInteger('TCP ack sequence number', 0, U32_MAX);
    }
    let win: number | null = null;
    if (this.isWord('win')) {
      this.next();
      win = this.expectInteger('TCP window value', 0, 0xffff);
    }
    let urg: number | null = null;
    if (this.isWord('urg')) {
      this.next();
      urg = this.expectInteger('urg_ptr value', 0, 0xffff);
    }
    let options: TcpOptionSpec[] | null = [];
    if (this.isPunct('<')) {
      const lt = this.next();
      if (this.peek().kind === 'ellipsis') {
        this.next();
        this.expectPunct('>');
        if (direction !== 'outbound') {
          throw new PktSyntaxError(lt.line, 'semantic error: <...> for TCP options can only be used with outbound packets');
        }
        options = null;
      } else {
        options = this.parseTcpOptions();
      }
    }
    if (this.isPunct('{')) throw new PktUnsupportedError('packet fuzzing {...}', this.peek().line);
    if (win === null && direction === 'inbound') {
      throw new PktSyntaxError(first.line, 'semantic error: window must be specified for inbound packets');
    }
    if (options !== null) {
      const bytes = tcpOptionsLength(options);
      if (bytes % 4 !== 0) {
        throw new PktSyntaxError(
          first.line,
          `semantic error: TCP options are not padded correctly to ensure TCP header is a multiple of 4 bytes: ${bytes % 4} excess bytes`,
        );
      }
      if (bytes > 40) throw new PktSyntaxError(first.line, 'semantic error: TCP header too large (more than 40 bytes of options)');
    }
    return { protocol: 'tcp', ipInfo, srcPort, dstPort, flags, flagBits, seq: seqStart, len, ack, win, urg, options };
  }

  parseFlags(): string {
    const t = this.peek();
    if (t.kind === 'word') {
      this.next();
      if (this.isPunct('.')) {
        this.next();
        return `${t.text}.`;
      }
      if (this.peek().kind === 'float' && this.peek().text.startsWith('.')) {
        const ace = this.next();
        throw new PktUnsupportedError(`AccECN flags ${t.text}${ace.text}`, t.line);
      }
      return t.text;
    }
    if (t.kind === 'float' && t.text.startsWith('.')) throw new PktUnsupportedError(`AccECN flags ${t.text}`, t.line);
    if (this.isPunct('.')) {
      this.next();
      return '.';
    }
    if (this.isPunct('-')) {
      this.next();
      return '';
    }
    return this.fail("expected TCP flags (e.g. S, S., P., F., R, ., -)");
  }

  parseTcpOptions(): TcpOptionSpec[] {
    const list: TcpOptionSpec[] = [];
    for (;;) {
      list.push(this.parseTcpOption());
      if (this.isPunct(',')) {
        this.next();
        continue;
      }
      this.expectPunct('>', "',' or '>' in the TCP option list");
      return list;
    }
  }

  parseTcpOption(): TcpOptionSpec {
    const t = this.next();
    if (t.kind !== 'word') this.fail('expected a TCP option', t);
    switch (t.text) {
      case 'nop':
        return { kind: 'nop' };
      case 'eol':
        return { kind: 'eol' };
      case 'mss':
        return { kind: 'mss', value: this.expectInteger('mss value', 0, 0xffff) };
      case 'wscale':
        return { kind: 'wscale', value: this.expectInteger('window scale shift count', 0, 255) };
      case 'sackOK':
        return { kind: 'sackOK' };
      case 'sack': {
        const blocks: Array<{ left: number; right: number }> = [];
        while (this.peek().kind === 'integer' && this.isPunct(':', 1)) {
          const left = this.expectInteger('TCP SACK left sequence number', 0, U32_MAX);
          this.next();
          const right = this.expectInteger('TCP SACK right sequence number', 0, U32_MAX);
          blocks.push({ left, right });
        }
        if (blocks.length === 0) this.fail('expected SACK blocks left:right');
        if (blocks.length > 4) throw new PktSyntaxError(t.line, 'TCP option list too long (more than 4 SACK blocks)');
        return { kind: 'sack', blocks };
      }
      case 'TS': {
        this.expectWord('val');
        const val = this.expectInteger('ts val', 0, U32_MAX);
        this.expectWord('ecr');
        const ecr = this.expectInteger('ecr val', 0, U32_MAX);
        return { kind: 'timestamp', val, ecr };
      }
      case 'md5':
        return { kind: 'md5', digest: this.parseHexBlob(false) };
      case 'FO':
      case 'FOEXP':
        return { kind: 'fastopen', cookie: this.parseHexBlob(true), experimental: t.text === 'FOEXP' };
      default:
        return this.fail('expected a TCP option (nop, eol, mss, wscale, sackOK, sack, TS, md5, FO)', t);
    }
  }

  parseHexBlob(optional: boolean): string {
    const t = this.peek();
    if (t.kind === 'word' || t.kind === 'integer') {
      this.next();
      return t.text;
    }
    if (optional) return '';
    return this.fail('expected a hex string');
  }

  // -- system calls -----------------------------------------------------------

  parseSyscall(line: number, time: TimeSpec): ScriptEvent {
    let endUsecs: number | null = null;
    if (this.peek().kind === 'ellipsis') {
      this.next();
      endUsecs = this.parseTimeValue();
    }
    const nameTok = this.next();
    if (nameTok.kind !== 'word') this.fail('expected a system call name', nameTok);
    this.expectPunct('(', `'(' after ${nameTok.text}`);
    const args = this.isPunct(')') ? [] : this.parseExprList(')');
    this.expectPunct(')');
    this.expectPunct('=', `'=' and the expected result of ${nameTok.text}()`);
    const result = this.parseExpr();
    let errno: string | null = null;
    let note: string | null = null;
    if (this.peek().kind === 'word') errno = this.next().text;
    if (this.isPunct('(')) note = this.parseNote();
    if (endUsecs !== null && time.kind === 'absolute' && endUsecs < time.usecs) {
      throw new PktSyntaxError(line, 'semantic error: blocking call ends before it starts');
    }
    return { type: 'syscall', line, time, name: nameTok.text, args, endUsecs, result, errno, note };
  }

  parseNote(): string {
    this.expectPunct('(');
    const words: string[] = [];
    let depth = 1;
    for (;;) {
      const t = this.next();
      if (t.kind === 'eof') this.fail("unterminated '(' note", t);
      if (t.kind === 'punct' && t.text === '(') depth++;
      if (t.kind === 'punct' && t.text === ')' && --depth === 0) return words.join(' ');
      words.push(t.text);
    }
  }

  parseExprList(close: string): Expr[] {
    const list: Expr[] = [this.parseExpr()];
    while (this.isPunct(',')) {
      this.next();
      list.push(this.parseExpr());
    }
    if (!this.isPunct(close)) this.fail(`expected ',' or '${close}'`);
    return list;
  }

  parseExpr(): Expr {
    let lhs = this.parsePrimary();
    while (this.isPunct('|')) {
      this.next();
      lhs = { kind: 'binary', op: '|', lhs, rhs: this.parsePrimary() };
    }
    return lhs;
  }

  parsePrimary(): Expr {
    const t = this.peek();
    switch (t.kind) {
      case 'ellipsis':
        this.next();
        return { kind: 'ellipsis' };
      case 'integer':
      case 'hex':
        this.next();
        return { kind: 'int', value: t.value, text: t.text };
      case 'string': {
        let value = '';
        while (this.peek().kind === 'string') value += this.next().text;
        const ellipsis = this.peek().kind === 'ellipsis';
        if (ellipsis) this.next();
        return { kind: 'string', value, ellipsis };
      }
      case 'word': {
        this.next();
        let e: Expr = { kind: 'word', name: t.text };
        if (this.isPunct('(')) {
          this.next();
          const args = this.isPunct(')') ? [] : this.parseExprList(')');
          this.expectPunct(')');
          e = { kind: 'call', name: t.text, args };
        }
        if (this.isPunct('=')) {
          this.next();
          return { kind: 'binary', op: '=', lhs: e, rhs: this.parseExpr() };
        }
        return e;
      }
      case 'punct':
        if (t.text === '[') {
          this.next();
          const items = this.isPunct(']') ? [] : this.parseExprList(']');
          this.expectPunct(']');
          return { kind: 'list', items };
        }
        if (t.text === '{') {
          this.next();
          const items = this.isPunct('}') ? [] : this.parseExprList('}');
          this.expectPunct('}');
          return { kind: 'struct', items };
        }
        break;
      default:
        break;
    }
    return this.fail('expected an expression');
  }

  // -- the script -------------------------------------------------------------

  parseScript(defines: Map<string, string>): Script {
    const options: ScriptOption[] = [];
    for (;;) {
      const opt = this.parseOption();
      if (opt === null) break;
      options.push(opt);
      if (opt.name === 'define' && opt.value !== null) {
        const eq = opt.value.indexOf('=');
        const name = eq < 0 ? opt.value : opt.value.slice(0, eq);
        if (!defines.has(name)) defines.set(name, eq < 0 ? '1' : opt.value.slice(eq + 1));
      }
    }
    this.substituteDefines(defines);
    let initCommand: Script['initCommand'] = null;
    if (this.peek().kind === 'backquoted') {
      const t = this.next();
      initCommand = { command: t.text, line: t.line };
    }
    const events: ScriptEvent[] = [];
    let cleanupCommand: Script['cleanupCommand'] = null;
    while (this.peek().kind !== 'eof') {
      if (this.peek().kind === 'backquoted' && this.peek(1).kind === 'eof') {
        const t = this.next();
        cleanupCommand = { command: t.text, line: t.line };
        break;
      }
      if (this.peek().kind === 'option') this.fail('options must come before the first event');
      if (!this.atEventStart()) this.fail('expected an event time (e.g. 0, +0.1, 0.1~0.2, *)');
      events.push(this.parseEvent());
    }
    if (events.length === 0) throw new PktSyntaxError(this.peek().line, 'parse error: the script has no events');
    return { options, initCommand, events, cleanupCommand, defines };
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'string':
      return `"${t.text}"`;
    case 'backquoted':
      return `\`${t.text}\``;
    case 'code':
      return '%{...}%';
    case 'option':
      return `--${t.text}`;
    default:
      return t.text;
  }
}

/**
 * Parses a script. Throws PktSyntaxError (with the line) for text that is
 * not a packetdrill script, PktUnsupportedError for packetdrill constructs
 * we cannot run.
 */
export function parseScript(source: string, options: ParseOptions = {}): Script {
  const defines = new Map<string, string>(Object.entries({ ...DEFAULT_DEFINES, ...(options.defines ?? {}) }));
  const text = preprocess(source, defines);
  return new Parser(tokenize(text)).parseScript(defines);
}
