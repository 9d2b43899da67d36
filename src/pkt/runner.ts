/**
 * The executor: runs a parsed packetdrill script against the sans-I/O TCP
 * core (src/tcp/tcp.ts) on a virtual clock. Nothing touches a device, a
 * real timer or the event loop, so a run is exactly repeatable and a
 * 60-second TIME-WAIT costs microseconds.
 *
 * Time follows packetdrill's run.c: script times are microseconds from the
 * first event; a relative time is anchored on the previous event's script
 * time when both are inbound packets, otherwise on "now" (the virtual time
 * the previous event finished); events happen exactly at their time, and
 * what the stack does (outbound packets, blocking calls returning) must fall
 * within max(tolerance_usecs, tolerance_percent of the gap since the
 * previous event) of the script's time, or inside a `a~b` range.
 *
 * Outbound packets are taken in the order the stack sent them: the next `>`
 * line is compared with the oldest packet not yet matched (packetdrill's
 * sniffing). Unlike packetdrill we also fail a script that ends with
 * packets it never accounted for (sent before its last event), unless the
 * run is tolerant.
 */
import { formatIpv4, parseIpv4, type Ipv4Address } from '../ip/address.ts';
import { Ipv4View } from '../ip/ipv4.ts';
import { mulberry32 } from '../link/prng.ts';
import type { TcpConnection, TcpState } from '../tcp/api.ts';
import type { TcpConfig } from '../tcp/config.ts';
import { ACK, SYN } from '../tcp/flags.ts';
import { Tcp } from '../tcp/tcp.ts';
import type { Script, ScriptEvent, SyscallEvent, TcpPacketSpec } from './ast.ts';
import { CodeUnsupportedError, runCode } from './code.ts';
import { CommandUnsupportedError, runCommand, type CommandContext } from './commands.ts';
import { ScriptFailure, ScriptUnsupported } from './errors.ts';
import { PktSyntaxError } from './lexer.ts';
import {
  buildInbound,
  formatObserved,
  formatSpec,
  matchOutbound,
  observe,
  peekTcp,
  type Flow,
} from './packet.ts';
import { PktUnsupportedError, parseScript } from './parser.ts';
import { getProfile, type Profile } from './profiles.ts';
import { SocketTable, evalInt, type SocketHost, type SyscallResult } from './syscalls.ts';
import { ERRNO, TCP_STATE_NUMBERS, lookupSymbol } from './symbols.ts';

export interface RunOptions {
  /** 'tuntcp' (default), 'linux' or 'freebsd'. */
  profile?: string;
  /** Options in any order, NOP padding ignored; leftover packets at the end not reported. */
  tolerant?: boolean;
  /** Receives one line per packet in and out, syscall and timer step (for --verbose). */
  trace?: (line: string) => void;
  /** `-D NAME=value`: symbols for #ifdef and word substitution. */
  defines?: Readonly<Record<string, string>>;
  /** TcpConfig overrides on top of the profile (before the script's sysctls). */
  config?: Partial<TcpConfig>;
}

export type ScriptResult =
  | { status: 'pass' }
  | { status: 'fail'; line: number | null; message: string; expected?: string; actual?: string }
  | { status: 'unsupported'; feature: string; line: number | null };

const DEFAULT_LOCAL = '192.168.0.1';
const DEFAULT_REMOTE = '192.0.2.1';
const DEFAULT_PORT = 8080;
/** Remote ports for flows the script opens without naming ports. */
const FIRST_REMOTE_PORT = 40001;
/** A `*` packet may take this long before we call it missing. */
const ANY_TIME_LIMIT_US = 3600 * 1e6;
const MAX_TIMER_STEPS = 1_000_000;
/** How far past an outbound packet's window we look for it, to report it late rather than missing. */
const LATE_PACKET_HORIZON_US = 60 * 1e6;
/** Fixed key: ISNs stay unpredictable-looking but every run is the same. */
const ISN_SECRET = Uint8Array.from([0x74, 0x75, 0x6e, 0x74, 0x63, 0x70, 0x2d, 0x70, 0x6b, 0x74]);

interface Pending {
  event: SyscallEvent;
  attempt: () => SyscallResult | null;
  /** Script time the call must return at (µs), and the latest acceptable time. */
  endTime: number;
  tolerance: number;
}

interface Captured {
  time: number;
  bytes: Uint8Array;
}

const LINUX_STATE: Readonly<Record<TcpState, number>> = {
  ESTABLISHED: 1,
  'SYN-SENT': 2,
  'SYN-RECEIVED': 3,
  'FIN-WAIT-1': 4,
  'FIN-WAIT-2': 5,
  'TIME-WAIT': 6,
  CLOSED: 7,
  'CLOSE-WAIT': 8,
  'LAST-ACK': 9,
  LISTEN: 10,
  CLOSING: 11,
};

const FREEBSD_STATE: Readonly<Record<TcpState, string>> = {
  ESTABLISHED: 'ESTABLISHED',
  'SYN-SENT': 'SYN_SENT',
  'SYN-RECEIVED': 'SYN_RCVD',
  'FIN-WAIT-1': 'FIN_WAIT_1',
  'FIN-WAIT-2': 'FIN_WAIT_2',
  'TIME-WAIT': 'TIME_WAIT',
  CLOSED: 'CLOSED',
  'CLOSE-WAIT': 'CLOSE_WAIT',
  'LAST-ACK': 'LAST_ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
};

function secs(us: number): string {
  return (us / 1e6).toFixed(6);
}

class Runner implements SocketHost {
  private readonly profile: Profile;
  private readonly tolerant: boolean;
  private readonly trace: ((line: string) => void) | null;
  readonly config: Partial<TcpConfig>;
  private toleranceUsecs = 4000;
  private tolerancePercent = 12.5;
  private mtu: number;
  localAddress: Ipv4Address = parseIpv4(DEFAULT_LOCAL);
  remoteAddress: Ipv4Address = parseIpv4(DEFAULT_REMOTE);
  bindPort = DEFAULT_PORT;
  connectPort = DEFAULT_PORT;
  private somaxconn = Infinity;

  private stack: Tcp | null = null;
  /** Virtual time in µs, and the last time handed to the core in ms (kept monotonic). */
  private now = 0;
  private coreNow = 0;
  private readonly out: Captured[] = [];
  private outHead = 0;
  private readonly flows: Flow[] = [];
  private underTest: Flow | 'listening' | null = null;
  private listenPort = DEFAULT_PORT;
  private nextRemotePort = FIRST_REMOTE_PORT;
  private readonly sockets: SocketTable;
  private pending: Pending | null = null;
  private last: { time: number; inbound: boolean; absolute: boolean } | null = null;
  line = 0;

  constructor(options: RunOptions) {
    this.profile = getProfile(options.profile ?? 'tuntcp');
    this.tolerant = options.tolerant ?? false;
    this.trace = options.trace ?? null;
    this.config = { ...this.profile.config, ...(options.config ?? {}) };
    this.mtu = this.profile.mtu;
    this.sockets = new SocketTable(this);
  }

  // ---- SocketHost ---------------------------------------------------------------

  get started(): boolean {
    return this.stack !== null;
  }

  nowMs(): number {
    this.coreNow = Math.max(this.coreNow, this.now / 1000);
    return this.coreNow;
  }

  tcp(): Tcp {
    if (this.stack === null) {
      try {
        this.stack = new Tcp({
          localAddress: this.localAddress,
          mtu: this.mtu,
          send: (packet) => {
            const bytes = packet.slice();
            this.out.push({ time: this.now, bytes });
            if (this.trace !== null) this.traceOutbound(bytes);
          },
          config: this.config,
          // Deterministic ephemeral ports: the same script picks the same ports every run.
          random: mulberry32(0x70646b74),
          isnSecret: ISN_SECRET,
        });
      } catch (e) {
        if (e instanceof RangeError) throw new ScriptUnsupported(`stack configuration (${e.message})`);
        throw e;
      }
    }
    return this.stack;
  }

  acceptQueueLimit(backlog: number): number {
    return this.profile.acceptQueueLimit(Math.min(backlog, this.somaxconn));
  }

  listening(port: number): void {
    this.underTest = 'listening';
    this.listenPort = port;
  }

  connecting(conn: TcpConnection): void {
    const flow: Flow = {
      localPort: conn.localPort,
      remotePort: conn.remotePort,
      remoteIsn: 0,
      scriptLocalIsn: 0,
      liveLocalIsn: 0,
      state: 'active-connecting',
    };
    this.flows.push(flow);
    this.underTest = flow;
  }

  private traceOutbound(bytes: Uint8Array): void {
    const raw = peekTcp(bytes);
    const flow = raw === null ? undefined : this.findFlow(raw.srcPort, raw.dstPort);
    const text =
      raw === null
        ? '(non-TCP packet)'
        : flow === undefined
          ? `> ${raw.srcPort}>${raw.dstPort} (unmapped flow)`
          : formatObserved(observe(bytes, this.now, flow), true);
    // Our ISN is learnt when the script's SYN or SYN-ACK line matches this packet.
    const unmapped = raw !== null && (raw.flags & SYN) !== 0 && flow !== undefined && (flow.state === 'passive-syn-received' || flow.state === 'active-connecting');
    this.trace!(`${secs(this.now)} ${text}${unmapped ? ' (seq: our ISN, absolute)' : ''}`);
  }

  // ---- the clock --------------------------------------------------------------

  /** The core's next deadline in µs (ceil: polling at it must fire it). */
  private coreDeadline(): number {
    if (this.stack === null) return Infinity;
    const d = this.stack.nextDeadline();
    return d === Infinity ? Infinity : Math.ceil(d * 1000 - 1e-6);
  }

  private steps = 0;

  /** Runs the next timer if it is due no later than `limit`; false if none is. */
  private stepTimer(limit: number): boolean {
    const d = Math.max(this.coreDeadline(), this.now);
    const p = this.pending;
    if (p !== null && p.endTime + p.tolerance < Math.min(d, limit)) {
      this.now = Math.max(this.now, p.endTime + p.tolerance);
      this.checkPending();
      this.failPending();
    }
    if (d > limit) return false;
    if (++this.steps > MAX_TIMER_STEPS) throw new ScriptFailure(this.line, `the core ran ${MAX_TIMER_STEPS} timer events without reaching ${secs(limit)} s`);
    this.now = d;
    const stack = this.stack!;
    const before = stack.nextDeadline();
    stack.poll(Math.max(before, this.nowMs()));
    this.coreNow = Math.max(this.coreNow, before);
    if (stack.nextDeadline() <= before) {
      // A due timer that neither fired nor moved would make us spin forever.
      throw new ScriptFailure(this.line, `core bug: poll(${before}) left a timer due at ${stack.nextDeadline()} ms`);
    }
    this.checkPending();
    return true;
  }

  /** Advances virtual time to `target`, running every timer on the way. */
  private advanceTo(target: number): void {
    while (this.stepTimer(target)) {
      /* one timer at a time */
    }
    const p = this.pending;
    if (p !== null && target > p.endTime + p.tolerance) {
      this.now = p.endTime + p.tolerance;
      this.checkPending();
      this.failPending();
    }
    this.now = Math.max(this.now, target);
  }

  // ---- blocking calls -------------------------------------------------------------

  private checkPending(): void {
    const p = this.pending;
    if (p === null) return;
    const r = p.attempt();
    if (r === null) return;
    this.pending = null;
    const savedLine = this.line;
    this.line = p.event.line;
    this.verifyTime(p.endTime, p.endTime, p.tolerance, this.now, 'system call return', p.event.line);
    this.checkResult(p.event, r);
    this.line = savedLine;
  }

  private failPending(): void {
    const p = this.pending;
    if (p === null) return;
    throw new ScriptFailure(
      p.event.line,
      `timing error: expected ${p.event.name}() to return at ${secs(p.endTime)} sec but it was still blocked at ${secs(this.now)} sec; tolerance ${secs(p.tolerance)} sec`,
    );
  }

  // ---- timing ----------------------------------------------------------------------

  private toleranceFor(time: number): number {
    let tol = this.toleranceUsecs;
    if (this.last !== null) {
      const dynamic = Math.trunc((this.tolerancePercent / 100) * (time - this.last.time));
      if (dynamic > tol) tol = dynamic;
    }
    return tol;
  }

  private verifyTime(start: number, end: number, tol: number, actual: number, what: string, line: number): void {
    if (actual >= start - tol && actual <= end + tol) return;
    const expected = start === end ? `at ${secs(start)} sec` : `in time range ${secs(start)}~${secs(end)} sec`;
    throw new ScriptFailure(line, `timing error: expected ${what} ${expected} but happened at ${secs(actual)} sec; tolerance ${secs(tol)} sec`);
  }

  /** Brings the clock to an event's time (events we perform happen exactly on time). */
  private waitFor(time: number, tol: number, what: string, line: number): void {
    if (time >= this.now) {
      this.advanceTo(time);
      return;
    }
    this.verifyTime(time, time, tol, this.now, what, line);
  }

  // ---- flows --------------------------------------------------------------------

  private findFlow(localPort: number, remotePort: number): Flow | undefined {
    for (let i = this.flows.length - 1; i >= 0; i--) {
      const f = this.flows[i]!;
      if (f.localPort === localPort && f.remotePort === remotePort) return f;
    }
    return undefined;
  }

  private newFlow(localPort: number, remotePort: number, spec: TcpPacketSpec): Flow {
    const syn = (spec.flagBits & SYN) !== 0;
    // A flow first seen through a SYN counts from that SYN; one first seen
    // through anything else (a stray segment to a closed port) uses absolute numbers.
    const flow: Flow = {
      localPort,
      remotePort,
      remoteIsn: syn ? spec.seq : 0,
      scriptLocalIsn: 0,
      liveLocalIsn: 0,
      state: syn && (spec.flagBits & ACK) === 0 ? 'passive-syn-received' : 'other',
    };
    this.flows.push(flow);
    return flow;
  }

  private flowForInbound(spec: TcpPacketSpec): Flow {
    if (spec.srcPort !== null && spec.dstPort !== null) {
      const existing = this.findFlow(spec.dstPort, spec.srcPort);
      if (existing !== undefined) return existing;
      const flow = this.newFlow(spec.dstPort, spec.srcPort, spec);
      if (flow.state === 'passive-syn-received' || this.underTest === null || this.underTest === 'listening') this.underTest = flow;
      return flow;
    }
    if (this.underTest === null || this.underTest === 'listening') {
      const flow = this.newFlow(this.listenPort, this.nextRemotePort++, spec);
      this.underTest = flow;
      return flow;
    }
    return this.underTest;
  }

  // ---- events --------------------------------------------------------------------

  private injectInbound(spec: TcpPacketSpec): void {
    if (spec.options?.some((o) => o.kind === 'md5' || o.kind === 'fastopen')) {
      throw new ScriptUnsupported('TCP MD5 / Fast Open options', this.line);
    }
    const flow = this.flowForInbound(spec);
    const syn = (spec.flagBits & SYN) !== 0;
    const ack = (spec.flagBits & ACK) !== 0;
    if (syn && !ack && flow.state !== 'passive-syn-received' && flow.state !== 'passive-synack-sent' && this.isNewIncarnation(flow)) {
      // A SYN for a 4-tuple with no synchronized connection (none left, or
      // TIME-WAIT) opens a new incarnation: its ISNs are learnt afresh, so
      // the script numbers the new connection from 0 like any other.
      flow.remoteIsn = spec.seq;
      flow.scriptLocalIsn = 0;
      flow.liveLocalIsn = 0;
      flow.state = 'passive-syn-received';
    }
    if (flow.state === 'active-syn-sent' && syn && ack) {
      flow.remoteIsn = spec.seq;
      flow.state = 'established';
    } else if (flow.state === 'passive-synack-sent' && ack) {
      flow.state = 'established';
    }
    const packet = buildInbound(spec, flow, this.remoteAddress, this.localAddress);
    if (this.trace !== null) this.trace(`${secs(this.now)} ${formatSpec('inbound', { ...spec, srcPort: flow.remotePort, dstPort: flow.localPort })}`);
    this.tcp().input(new Ipv4View(packet), this.nowMs());
    this.checkPending();
  }

  private expectOutbound(spec: TcpPacketSpec, start: number, end: number, tol: number, any: boolean): void {
    const hi = any ? this.now + ANY_TIME_LIMIT_US : end + tol;
    while (this.outHead === this.out.length) {
      if (this.stepTimer(hi)) continue;
      // Nothing in time. Like packetdrill, which sniffs whatever comes next,
      // look on (the run fails anyway) so that a late packet is reported as
      // late, or as the wrong packet, rather than as missing.
      const horizon = this.now + LATE_PACKET_HORIZON_US;
      while (this.outHead === this.out.length && this.stepTimer(horizon)) {
        /* one timer at a time */
      }
      if (this.outHead === this.out.length) {
        const when = any ? 'at any time' : start === end ? `at ${secs(start)} sec` : `in ${secs(start)}~${secs(end)} sec`;
        throw new ScriptFailure(this.line, `expected ${formatSpec('outbound', spec)} ${when} but no packet was sent`, formatSpec('outbound', spec), '(nothing)');
      }
    }
    const captured = this.out[this.outHead++]!;
    const raw = peekTcp(captured.bytes);
    if (raw === null) {
      throw new ScriptFailure(this.line, `expected ${formatSpec('outbound', spec)} got a non-TCP packet`, formatSpec('outbound', spec), '(non-TCP)');
    }
    const flow = this.flowForOutbound(spec, raw.srcPort, raw.dstPort, (raw.flags & SYN) !== 0, captured.bytes);
    const observed = observe(captured.bytes, captured.time, flow);
    const expectedFlow = this.underTest;
    const portsGiven = spec.srcPort !== null;
    const withPorts = portsGiven || (expectedFlow !== null && expectedFlow !== 'listening' && expectedFlow !== flow);
    const expectedText = formatSpec('outbound', spec);
    const actualText = formatObserved(observed, withPorts);
    if (portsGiven && (spec.srcPort !== observed.srcPort || spec.dstPort !== observed.dstPort)) {
      throw new ScriptFailure(this.line, `expected ${expectedText} got ${actualText} (ports differ)`, expectedText, actualText);
    }
    if (!portsGiven && expectedFlow !== null && expectedFlow !== 'listening' && expectedFlow !== flow) {
      throw new ScriptFailure(this.line, `expected ${expectedText} got ${actualText} (a packet of another connection)`, expectedText, actualText);
    }
    const mismatch = matchOutbound(spec, observed, this.tolerant);
    if (mismatch !== null) {
      throw new ScriptFailure(
        this.line,
        `expected ${expectedText} got ${actualText} (${mismatch.field}: expected ${mismatch.expected}, actual ${mismatch.actual})`,
        expectedText,
        actualText,
      );
    }
    if (!any) this.verifyTime(start, end, tol, captured.time, 'outbound packet', this.line);
    this.now = Math.max(this.now, captured.time);
  }

  /** The flow an outbound packet belongs to; learns our ISN from our SYN or SYN-ACK. */
  private flowForOutbound(spec: TcpPacketSpec, srcPort: number, dstPort: number, actualSyn: boolean, bytes: Uint8Array): Flow {
    let flow = this.findFlow(srcPort, dstPort);
    if (flow === undefined) flow = this.newFlow(srcPort, dstPort, { ...spec, flagBits: 0 });
    const scriptSyn = (spec.flagBits & SYN) !== 0;
    const scriptAck = (spec.flagBits & ACK) !== 0;
    const liveSeq = new DataView(bytes.buffer, bytes.byteOffset + 20 + 4, 4).getUint32(0);
    if (flow.state === 'passive-syn-received' && scriptSyn && scriptAck && actualSyn) {
      flow.scriptLocalIsn = spec.seq;
      flow.liveLocalIsn = liveSeq;
      flow.state = 'passive-synack-sent';
    } else if (flow.state === 'active-connecting' && scriptSyn && !scriptAck && actualSyn) {
      flow.scriptLocalIsn = spec.seq;
      flow.liveLocalIsn = liveSeq;
      flow.state = 'active-syn-sent';
    }
    return flow;
  }

  private runSyscall(ev: SyscallEvent, start: number, tol: number, offset: number): void {
    if (this.pending !== null) {
      throw new ScriptFailure(
        ev.line,
        `${ev.name}() starts while ${this.pending.event.name}() from line ${this.pending.event.line} is still blocked`,
      );
    }
    if (this.trace !== null) this.trace(`${secs(this.now)} ${ev.name}() line ${ev.line}`);
    const outcome = this.sockets.invoke(ev.name, ev.args);
    this.checkPending();
    let endTime: number | null = null;
    if (ev.endUsecs !== null) endTime = ev.time.kind === 'relative' ? offset + ev.endUsecs : ev.endUsecs;
    const endTol = endTime === null ? tol : Math.max(this.toleranceUsecs, Math.trunc((this.tolerancePercent / 100) * (endTime - start)));
    if (outcome.kind === 'done') {
      if (endTime !== null) this.verifyTime(endTime, endTime, endTol, this.now, 'system call return', ev.line);
      this.checkResult(ev, outcome.result);
      return;
    }
    if (endTime === null) {
      throw new ScriptFailure(ev.line, `${ev.name}() would block (give the script's expected return time as +T...T' or set O_NONBLOCK)`);
    }
    this.pending = { event: ev, attempt: outcome.attempt, endTime, tolerance: endTol };
  }

  private checkResult(ev: SyscallEvent, r: SyscallResult): void {
    const got = r.ret === -1 && r.errno !== null ? `-1 ${r.errno}` : String(r.ret);
    if (ev.result.kind === 'ellipsis') return;
    let expected: number | null;
    try {
      expected = evalInt(ev.result, `result of ${ev.name}`);
    } catch {
      throw new ScriptUnsupported(`result expression of ${ev.name}`, ev.line);
    }
    const want = ev.errno !== null && expected === -1 ? `-1 ${ev.errno}` : String(expected);
    let ok = expected === r.ret;
    if (ok && expected === -1 && ev.errno !== null) {
      ok = r.errno !== null && (ERRNO[r.errno] ?? -1) === (ERRNO[ev.errno] ?? -2);
    }
    if (!ok) throw new ScriptFailure(ev.line, `${ev.name}() returned ${got}, expected ${want}`, `= ${want}`, `= ${got}`);
  }

  private commandContext(): CommandContext {
    return {
      applyConfig: (changes, what) => {
        if (this.stack !== null) {
          for (const [k, v] of Object.entries(changes) as Array<[keyof TcpConfig, number]>) {
            if (this.stack.config[k] !== v) throw new CommandUnsupportedError(`${what} after the first listen/connect/packet (TcpConfig is fixed then)`);
          }
          return;
        }
        Object.assign(this.config, changes);
      },
      setSomaxconn: (v) => {
        this.somaxconn = v;
      },
      sockstat: () => this.sockstatLines(),
    };
  }

  private sockstatLines(): string[] {
    const lines: string[] = [];
    if (this.stack === null) return lines;
    for (const l of this.stack.listeners()) {
      const addr = l.localAddress === 0 ? '*' : formatIpv4(l.localAddress);
      lines.push(`tcp4 ${addr}:${l.localPort} *:* LISTEN`);
    }
    for (const c of this.stack.connections()) {
      lines.push(`tcp4 ${formatIpv4(c.localAddress)}:${c.localPort} ${formatIpv4(c.remoteAddress)}:${c.remotePort} ${FREEBSD_STATE[c.state]}`);
    }
    return lines;
  }

  private runCommandText(command: string, line: number): void {
    try {
      const r = runCommand(command, this.commandContext());
      if (!r.ok) throw new ScriptFailure(line, r.message);
    } catch (e) {
      if (e instanceof CommandUnsupportedError) throw new ScriptUnsupported(e.feature, line);
      throw e;
    }
  }

  private connectionOf(flow: Flow): TcpConnection | null {
    if (this.stack === null) return null;
    for (const c of this.stack.connections()) {
      if (c.localPort === flow.localPort && c.remotePort === flow.remotePort) return c;
    }
    return null;
  }

  private isNewIncarnation(flow: Flow): boolean {
    const c = this.connectionOf(flow);
    return c === null || c.state === 'TIME-WAIT' || c.state === 'CLOSED';
  }

  /** The connection the script is talking to (packetdrill's socket under test). */
  private connectionUnderTest(): TcpConnection | null {
    const f = this.underTest;
    if (f === null || f === 'listening') return null;
    return this.connectionOf(f);
  }

  private tcpiVariable(name: string): number | undefined {
    const state = TCP_STATE_NUMBERS[name] ?? lookupSymbol(name);
    if (state !== undefined) return state;
    const TCPI_OPT: Record<string, number> = { TCPI_OPT_TIMESTAMPS: 1, TCPI_OPT_SACK: 2, TCPI_OPT_WSCALE: 4, TCPI_OPT_ECN: 8 };
    if (name in TCPI_OPT) return TCPI_OPT[name];
    if (!name.startsWith('tcpi_')) return undefined;
    const conn = this.connectionUnderTest();
    if (name === 'tcpi_state') {
      if (conn !== null) return LINUX_STATE[conn.state];
      return this.underTest === 'listening' ? LINUX_STATE.LISTEN : LINUX_STATE.CLOSED;
    }
    if (conn === null) throw new ScriptFailure(this.line, `${name}: the connection under test no longer exists`);
    const info = conn.getInfo();
    const mss = Math.max(1, info.mss);
    switch (name) {
      case 'tcpi_snd_cwnd':
        return Math.floor(info.cwnd / mss);
      case 'tcpi_snd_ssthresh':
        return info.ssthresh >= 0x7fffffff || !Number.isFinite(info.ssthresh) ? 0x7fffffff : Math.floor(info.ssthresh / mss);
      case 'tcpi_rto':
        return Math.round(info.rto * 1000);
      case 'tcpi_rtt':
        return Math.round(info.srtt * 1000);
      case 'tcpi_rttvar':
        return Math.round(info.rttvar * 1000);
      case 'tcpi_retransmits':
      case 'tcpi_backoff':
        return info.retransmits;
      case 'tcpi_total_retrans':
        return info.totalRetransmits;
      case 'tcpi_snd_mss':
        return info.mss;
      case 'tcpi_advmss':
        return this.mtu - 40;
      case 'tcpi_unacked':
        return Math.ceil(info.bytesInFlight / mss);
      case 'tcpi_snd_wnd':
        return info.sndWnd;
      case 'tcpi_rcv_wnd':
        return info.rcvWnd;
      case 'tcpi_bytes_acked':
        return Math.max(0, ((info.sndUna - info.iss - 1) >>> 0) % 0x1_0000_0000);
      case 'tcpi_bytes_received':
        return info.bytesReceived;
      case 'tcpi_notsent_bytes':
        return Math.max(0, info.sndBufUsed - info.bytesInFlight);
      case 'tcpi_options':
        // Linux's TCPI_OPT_TIMESTAMPS (1), TCPI_OPT_SACK (2), TCPI_OPT_WSCALE (4).
        return (info.timestamps ? 1 : 0) | (info.sackPermitted ? 2 : 0) | (info.windowScaling ? 4 : 0);
      case 'tcpi_snd_wscale':
        return info.sndWscale;
      case 'tcpi_rcv_wscale':
        return info.rcvWscale;
      default:
        return undefined;
    }
  }

  private runCodeBlock(code: string, line: number, defines: ReadonlyMap<string, string>): void {
    try {
      const r = runCode(code, (name) => {
        const v = this.tcpiVariable(name);
        if (v !== undefined) return v;
        const d = defines.get(name);
        return d !== undefined && /^-?\d+(\.\d+)?$/.test(d) ? Number(d) : undefined;
      });
      if (!r.ok) throw new ScriptFailure(line, r.message);
    } catch (e) {
      if (e instanceof CodeUnsupportedError) throw new ScriptUnsupported(e.feature, line);
      throw e;
    }
  }

  // ---- options ------------------------------------------------------------------

  private applyOptions(script: Script): void {
    for (const o of script.options) {
      const v = o.value ?? '';
      const num = (): number => {
        const n = Number(v);
        if (!Number.isFinite(n) || v === '') throw new ScriptFailure(o.line, `bad --${o.name}: ${v}`);
        return n;
      };
      switch (o.name) {
        case 'tolerance_usecs':
          this.toleranceUsecs = num();
          break;
        case 'tolerance_percent':
          this.tolerancePercent = num();
          break;
        case 'mtu':
          this.mtu = num();
          break;
        case 'ip_version':
          if (v !== 'ipv4') throw new ScriptUnsupported(`--ip_version=${v}`, o.line);
          break;
        case 'local_ip':
          this.localAddress = parseIpv4(v.split('/')[0]!);
          break;
        case 'remote_ip':
          this.remoteAddress = parseIpv4(v.split('/')[0]!);
          break;
        case 'bind_port':
          this.bindPort = num();
          this.listenPort = this.bindPort;
          break;
        case 'connect_port':
          this.connectPort = num();
          break;
        case 'init_scripts':
          for (const path of v.split(',')) {
            if (!path.trim().endsWith('defaults.sh')) throw new ScriptUnsupported(`--init_scripts=${path}`, o.line);
          }
          break;
        // Meaningless here: packetdrill's TSO splitting, timestamp ticks,
        // verbosity, and where the Python for code blocks lives.
        case 'mss':
        case 'define':
        case 'strict_segments':
        case 'tcp_ts_tick_usecs':
        case 'tcp_ts_ecr_scaled':
        case 'verbose':
        case 'debug':
        case 'gateway_ip':
        case 'netmask_ip':
        case 'speed':
        case 'code_command':
        case 'code_format':
        case 'code_sockopt':
          break;
        default:
          throw new ScriptUnsupported(`option --${o.name}`, o.line);
      }
    }
  }

  // ---- the run --------------------------------------------------------------------

  run(script: Script): void {
    this.applyOptions(script);
    if (script.initCommand !== null) {
      this.line = script.initCommand.line;
      this.runCommandText(script.initCommand.command, script.initCommand.line);
    }
    const first = script.events[0]!;
    if (first.time.kind !== 'absolute' && first.time.kind !== 'relative') {
      throw new ScriptFailure(first.line, 'first event should be at time 0');
    }
    if (first.time.usecs !== 0) throw new ScriptFailure(first.line, 'first event should be at time 0');
    for (const ev of script.events) this.runEvent(ev, script);
    this.finish();
  }

  private isInboundPacket(ev: ScriptEvent): boolean {
    return ev.type === 'packet' && ev.direction === 'inbound';
  }

  private runEvent(ev: ScriptEvent, script: Script): void {
    this.line = ev.line;
    const inbound = this.isInboundPacket(ev);
    const t = ev.time;
    let offset = 0;
    if (t.kind === 'relative' || t.kind === 'relative-range' || t.kind === 'any') {
      offset = this.last !== null && this.last.inbound && inbound ? this.last.time : this.now;
    }
    let start: number;
    let end: number;
    switch (t.kind) {
      case 'absolute':
        start = end = t.usecs;
        break;
      case 'relative':
        start = end = offset + t.usecs;
        break;
      case 'any':
        start = end = offset;
        break;
      case 'absolute-range':
        start = t.usecs;
        end = t.endUsecs;
        break;
      case 'relative-range':
        start = offset + t.usecs;
        end = offset + t.endUsecs;
        break;
    }
    const absolute = t.kind === 'absolute' || t.kind === 'absolute-range';
    if (absolute && this.last !== null && this.last.absolute && start < this.last.time) {
      throw new ScriptFailure(ev.line, `time goes backward in script from ${this.last.time} usec to ${start} usec`);
    }
    const tol = this.toleranceFor(start);
    switch (ev.type) {
      case 'packet':
        if (ev.direction === 'inbound') {
          this.waitFor(start, tol, 'inbound packet', ev.line);
          this.injectInbound(ev.packet);
        } else {
          this.expectOutbound(ev.packet, start, end, tol, t.kind === 'any');
        }
        break;
      case 'syscall':
        this.waitFor(start, tol, 'system call start', ev.line);
        this.runSyscall(ev, start, tol, offset);
        break;
      case 'command':
        this.waitFor(start, tol, 'command', ev.line);
        this.runCommandText(ev.command, ev.line);
        break;
      case 'code':
        this.waitFor(start, tol, 'data collection for code', ev.line);
        this.runCodeBlock(ev.code, ev.line, script.defines);
        break;
    }
    this.last = { time: start, inbound, absolute };
  }

  private finish(): void {
    const p = this.pending;
    if (p !== null) {
      this.line = p.event.line;
      this.advanceTo(p.endTime + p.tolerance);
      this.checkPending();
      if (this.pending !== null) {
        throw new ScriptFailure(p.event.line, `the script ended while ${p.event.name}() was still blocked`);
      }
    }
    if (this.tolerant || this.last === null) return;
    const lastTime = this.last.time;
    for (let i = this.outHead; i < this.out.length; i++) {
      const c = this.out[i]!;
      if (c.time >= lastTime) break;
      const raw = peekTcp(c.bytes);
      const flow = raw === null ? undefined : this.findFlow(raw.srcPort, raw.dstPort);
      const text = flow === undefined || raw === null ? '(unmapped packet)' : formatObserved(observe(c.bytes, c.time, flow), false);
      throw new ScriptFailure(
        null,
        `unexpected outbound packet at ${secs(c.time)} sec that the script never expected: ${text}`,
        '(no packet)',
        text,
      );
    }
  }
}

/** Parses and runs one script. Never throws for anything a script can contain. */
export function runScript(source: string, options: RunOptions = {}): ScriptResult {
  let profile: Profile;
  try {
    profile = getProfile(options.profile ?? 'tuntcp');
  } catch (e) {
    return { status: 'unsupported', feature: (e as Error).message, line: null };
  }
  let script: Script;
  try {
    script = parseScript(source, { defines: { ...profile.defines, ...(options.defines ?? {}) } });
  } catch (e) {
    if (e instanceof PktUnsupportedError) return { status: 'unsupported', feature: e.feature, line: e.line };
    if (e instanceof PktSyntaxError) return { status: 'fail', line: e.line, message: e.message.replace(/^line \d+: /, '') };
    throw e;
  }
  const runner = new Runner(options);
  try {
    runner.run(script);
    return { status: 'pass' };
  } catch (e) {
    if (e instanceof ScriptFailure) {
      return {
        status: 'fail',
        line: e.line,
        message: e.message,
        ...(e.expected === undefined ? {} : { expected: e.expected }),
        ...(e.actual === undefined ? {} : { actual: e.actual }),
      };
    }
    if (e instanceof ScriptUnsupported) return { status: 'unsupported', feature: e.feature, line: e.line ?? runner.line };
    // The interpreter must never crash on a script: anything else is reported
    // as a failure at the current line (most likely a core exception).
    const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { status: 'fail', line: runner.line, message: `exception: ${msg}` };
  }
}
