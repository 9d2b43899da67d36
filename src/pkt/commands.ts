/**
 * Back-quoted shell commands. packetdrill runs them with /bin/sh; we run no
 * shell. What scripts use commands for is (almost always) tuning the
 * kernel's TCP with sysctl before the test, so we understand that:
 *
 * - `sysctl [-q] [-w] name=value ...` (Linux and FreeBSD names),
 *   `echo V > /proc/sys/net/...` and `set_sysctls.py /proc/sys/...=V`,
 *   mapped onto TcpConfig where the stack has an equivalent knob;
 * - `sysctl tuntcp.<TcpConfig field>=V`, our own names for every knob;
 * - switching off a feature the stack does not have (timestamps, SACK,
 *   window scaling, ECN, SYN cookies, ...) is accepted as a no-op: the
 *   script then expects what we do anyway; switching one on is unsupported;
 * - `defaults.sh` (upstream's reset-to-defaults script), `true`, `:` are
 *   no-ops (the profile already chose our defaults);
 * - FreeBSD `sockstat` piped into `grep`/`wc -l`, answered from our
 *   connection table;
 * - `a; b` and `a && b` sequences.
 *
 * Anything else is `unsupported: command ...`.
 */
import type { TcpConfig } from '../tcp/config.ts';

export class CommandUnsupportedError extends Error {
  readonly feature: string;

  constructor(feature: string) {
    super(`unsupported: ${feature}`);
    this.name = 'CommandUnsupportedError';
    this.feature = feature;
  }
}

export interface CommandContext {
  /** Applies config changes; throws CommandUnsupportedError when they cannot take effect any more. */
  applyConfig(changes: Partial<TcpConfig>, what: string): void;
  /** Caps listen() backlogs (net.core.somaxconn, kern.ipc.somaxconn). */
  setSomaxconn(value: number): void;
  /** One line per socket, FreeBSD sockstat style: "tcp4 LOCAL:PORT REMOTE:PORT STATE". */
  sockstat(): string[];
}

export type CommandOutcome = { ok: true } | { ok: false; message: string };

type SysctlEffect = { config: Partial<TcpConfig> } | { somaxconn: number } | { noop: true };

const TCP_CONFIG_KEYS: ReadonlyArray<keyof TcpConfig> = [
  'rcvBuf',
  'sndBuf',
  'backlog',
  'synBacklog',
  'delAckMs',
  'timeWaitMs',
  'initialRtoMs',
  'minRtoMs',
  'maxRtoMs',
  'maxRetries',
  'synRetries',
  'synAckRetries',
  'maxConnections',
  'maxOooRanges',
  'keepAliveIdleMs',
  'keepAliveIntervalMs',
  'keepAliveCount',
  'ephemeralPortMin',
  'ephemeralPortMax',
  'windowScaling',
  'timestamps',
  'sack',
  'dsack',
  'synCookies',
  'challengeAckLimit',
  'finWait2TimeoutMs',
  'orphanRetries',
  'invalidRateLimitMs',
];

/** Linux's on/off switches (tcp_timestamps=2, "no random offset", is still on). */
function onOff(name: string, value: string): number {
  return int(name, value) === 0 ? 0 : 1;
}

function int(name: string, value: string): number {
  const v = value.trim();
  if (!/^-?\d+$/.test(v)) throw new CommandUnsupportedError(`sysctl ${name}=${value} (not an integer)`);
  return Number(v);
}

/** The middle of Linux's "min default max" triples (tcp_rmem, tcp_wmem). */
function middle(name: string, value: string): number {
  const parts = value.trim().split(/\s+/);
  if (parts.length !== 3) throw new CommandUnsupportedError(`sysctl ${name}=${value} (expected "min default max")`);
  return int(name, parts[1]!);
}

/** A feature the stack does not have: off is what we do anyway, on is unsupported. */
function offOnly(feature: string) {
  return (name: string, value: string): SysctlEffect => {
    if (int(name, value) === 0) return { noop: true };
    throw new CommandUnsupportedError(`sysctl ${name}=${value.trim()} (the stack has no ${feature} yet)`);
  };
}

const SYSCTLS: Readonly<Record<string, (name: string, value: string) => SysctlEffect>> = {
  // Linux
  'net.ipv4.tcp_syn_retries': (n, v) => ({ config: { synRetries: int(n, v) } }),
  'net.ipv4.tcp_synack_retries': (n, v) => ({ config: { synAckRetries: int(n, v) } }),
  'net.ipv4.tcp_retries2': (n, v) => ({ config: { maxRetries: int(n, v) } }),
  'net.ipv4.tcp_keepalive_time': (n, v) => ({ config: { keepAliveIdleMs: int(n, v) * 1000 } }),
  'net.ipv4.tcp_keepalive_intvl': (n, v) => ({ config: { keepAliveIntervalMs: int(n, v) * 1000 } }),
  'net.ipv4.tcp_keepalive_probes': (n, v) => ({ config: { keepAliveCount: int(n, v) } }),
  'net.ipv4.tcp_max_syn_backlog': (n, v) => ({ config: { synBacklog: int(n, v) } }),
  'net.core.somaxconn': (n, v) => ({ somaxconn: int(n, v) }),
  'net.ipv4.tcp_rmem': (n, v) => ({ config: { rcvBuf: middle(n, v) } }),
  'net.ipv4.tcp_wmem': (n, v) => ({ config: { sndBuf: middle(n, v) } }),
  'net.ipv4.tcp_rto_min_us': (n, v) => ({ config: { minRtoMs: int(n, v) / 1000 } }),
  'net.ipv4.tcp_rto_max_ms': (n, v) => ({ config: { maxRtoMs: int(n, v) } }),
  'net.ipv4.ip_local_port_range': (n, v) => {
    const [lo, hi] = v.trim().split(/\s+/);
    return { config: { ephemeralPortMin: int(n, lo ?? ''), ephemeralPortMax: int(n, hi ?? '') } };
  },
  'net.ipv4.tcp_timestamps': (n, v) => ({ config: { timestamps: onOff(n, v) } }),
  'net.ipv4.tcp_sack': (n, v) => ({ config: { sack: onOff(n, v) } }),
  'net.ipv4.tcp_dsack': (n, v) => ({ config: { dsack: onOff(n, v) } }),
  'net.ipv4.tcp_fack': offOnly('FACK'),
  'net.ipv4.tcp_window_scaling': (n, v) => ({ config: { windowScaling: onOff(n, v) } }),
  'net.ipv4.tcp_syncookies': (n, v) => ({ config: { synCookies: Math.min(2, Math.max(0, int(n, v))) } }),
  'net.ipv4.tcp_challenge_ack_limit': (n, v) => ({ config: { challengeAckLimit: int(n, v) } }),
  'net.ipv4.tcp_fin_timeout': (n, v) => ({ config: { finWait2TimeoutMs: int(n, v) * 1000 } }),
  // Linux's 0 means 8 (tcp_orphan_retries()).
  'net.ipv4.tcp_orphan_retries': (n, v) => ({ config: { orphanRetries: int(n, v) === 0 ? 8 : int(n, v) } }),
  'net.ipv4.tcp_invalid_ratelimit': (n, v) => ({ config: { invalidRateLimitMs: int(n, v) } }),
  'net.ipv4.tcp_ecn': offOnly('ECN'),
  'net.ipv4.tcp_fastopen': offOnly('TCP Fast Open'),
  'net.ipv4.tcp_moderate_rcvbuf': offOnly('receive buffer auto-tuning'),
  'net.ipv4.tcp_autocorking': offOnly('autocorking'),
  'net.ipv4.tcp_mtu_probing': offOnly('packetization-layer path MTU discovery'),
  'net.ipv4.tcp_tw_reuse': offOnly('TIME-WAIT reuse for active opens'),
  // FreeBSD (times in milliseconds)
  'net.inet.tcp.delacktime': (n, v) => ({ config: { delAckMs: int(n, v) } }),
  'net.inet.tcp.delayed_ack': (n, v) => (int(n, v) === 0 ? { config: { delAckMs: 0 } } : { noop: true }),
  'net.inet.tcp.rexmit_initial': (n, v) => ({ config: { initialRtoMs: int(n, v) } }),
  'net.inet.tcp.rexmit_min': (n, v) => ({ config: { minRtoMs: int(n, v) } }),
  'net.inet.tcp.msl': (n, v) => ({ config: { timeWaitMs: 2 * int(n, v) } }),
  'net.inet.tcp.keepidle': (n, v) => ({ config: { keepAliveIdleMs: int(n, v) } }),
  'net.inet.tcp.keepintvl': (n, v) => ({ config: { keepAliveIntervalMs: int(n, v) } }),
  'net.inet.tcp.keepcnt': (n, v) => ({ config: { keepAliveCount: int(n, v) } }),
  'net.inet.tcp.sendspace': (n, v) => ({ config: { sndBuf: int(n, v) } }),
  'net.inet.tcp.recvspace': (n, v) => ({ config: { rcvBuf: int(n, v) } }),
  'kern.ipc.somaxconn': (n, v) => ({ somaxconn: int(n, v) }),
  'net.inet.tcp.rfc1323': (n, v) => ({ config: { windowScaling: onOff(n, v), timestamps: onOff(n, v) } }),
  'net.inet.tcp.sack.enable': (n, v) => ({ config: { sack: onOff(n, v) } }),
  'net.inet.tcp.syncookies': (n, v) => ({ config: { synCookies: onOff(n, v) } }),
  'net.inet.tcp.ecn.enable': offOnly('ECN'),
  'net.inet.tcp.fastopen.server_enable': offOnly('TCP Fast Open'),
  'net.inet.tcp.fastopen.client_enable': offOnly('TCP Fast Open'),
};

export function sysctlEffect(name: string, value: string): SysctlEffect {
  if (name.startsWith('tuntcp.')) {
    const key = name.slice('tuntcp.'.length) as keyof TcpConfig;
    if (!TCP_CONFIG_KEYS.includes(key)) throw new CommandUnsupportedError(`sysctl ${name} (no such TcpConfig field)`);
    const v = Number(value.trim());
    if (!Number.isFinite(v)) throw new CommandUnsupportedError(`sysctl ${name}=${value} (not a number)`);
    return { config: { [key]: v } };
  }
  const map = SYSCTLS[name];
  if (map === undefined) throw new CommandUnsupportedError(`sysctl ${name}`);
  return map(name, value);
}

/** Splits `a; b && c` into simple commands (no quoting subtleties beyond "..." and '...'). */
function splitSequence(command: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (let i = 0; i < command.length; i++) {
    const ch = command[i]!;
    if (quote !== null) {
      cur += ch;
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      cur += ch;
      continue;
    }
    if (ch === ';' || ch === '\n') {
      out.push(cur);
      cur = '';
      continue;
    }
    if (ch === '&' && command[i + 1] === '&') {
      out.push(cur);
      cur = '';
      i++;
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '');
}

/** Splits words, keeping "quoted strings" (quotes removed) together. */
function shellWords(text: string): string[] {
  const words: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  let current: string | null = null;
  let lastEnd = -1;
  while ((m = re.exec(text)) !== null) {
    const piece = m[1] ?? m[2] ?? m[3] ?? '';
    // name="a b c" is one word: glue pieces that touch.
    if (current !== null && m.index === lastEnd) current += piece;
    else {
      if (current !== null) words.push(current);
      current = piece;
    }
    lastEnd = m.index + m[0].length;
  }
  if (current !== null) words.push(current);
  return words;
}

function applyAssignment(name: string, value: string, ctx: CommandContext): void {
  const effect = sysctlEffect(name, value);
  if ('config' in effect) ctx.applyConfig(effect.config, `sysctl ${name}=${value.trim()}`);
  else if ('somaxconn' in effect) ctx.setSomaxconn(effect.somaxconn);
}

function runSysctl(words: string[], ctx: CommandContext): void {
  let assigned = false;
  for (const w of words.slice(1)) {
    if (w.startsWith('-')) {
      if (!/^-[qwe]+$/.test(w)) throw new CommandUnsupportedError(`sysctl option ${w}`);
      continue;
    }
    const eq = w.indexOf('=');
    if (eq < 0) throw new CommandUnsupportedError(`sysctl read of ${w} (only assignments are understood)`);
    applyAssignment(w.slice(0, eq), w.slice(eq + 1), ctx);
    assigned = true;
  }
  if (!assigned) throw new CommandUnsupportedError('sysctl without an assignment');
}

function procPathToName(path: string): string | null {
  const m = /^\/proc\/sys\/(.+)$/.exec(path);
  return m === null ? null : m[1]!.replace(/\//g, '.');
}

/** `sockstat ... | grep [-q] [-v] [-c] PATTERN | wc -l`, evaluated over our table. Returns the exit status. */
function runSockstatPipeline(stages: string[], ctx: CommandContext): number {
  let lines = ctx.sockstat();
  let status = 0;
  for (const stage of stages.slice(1)) {
    const words = shellWords(stage);
    if (words[0] === 'grep') {
      let invert = false;
      let count = false;
      let pattern: string | null = null;
      for (const w of words.slice(1)) {
        if (w.startsWith('-') && pattern === null) {
          if (w.includes('v')) invert = true;
          if (w.includes('c')) count = true;
          if (/[^-qvcE]/.test(w)) throw new CommandUnsupportedError(`grep option ${w}`);
          continue;
        }
        pattern = w;
      }
      if (pattern === null) throw new CommandUnsupportedError('grep without a pattern');
      const re = new RegExp(pattern);
      lines = lines.filter((l) => re.test(l) !== invert);
      status = lines.length > 0 ? 0 : 1;
      if (count) lines = [String(lines.length)];
    } else if (words[0] === 'wc' && words[1] === '-l') {
      lines = [String(lines.length)];
      status = 0;
    } else {
      throw new CommandUnsupportedError(`command '${stage}' after sockstat`);
    }
  }
  return status;
}

/**
 * Runs one back-quoted command. Returns { ok: false } when the command
 * "exits non-zero" (packetdrill fails the script then); throws
 * CommandUnsupportedError when we cannot run it.
 */
export function runCommand(command: string, ctx: CommandContext): CommandOutcome {
  for (const simple of splitSequence(command)) {
    const stages = simple.split('|').map((s) => s.trim());
    const words = shellWords(stages[0]!);
    const prog = words[0] ?? '';
    const base = prog.slice(prog.lastIndexOf('/') + 1);
    if (prog === 'sockstat') {
      if (runSockstatPipeline(stages, ctx) !== 0) return { ok: false, message: `command failed: ${simple}` };
      continue;
    }
    if (stages.length > 1) throw new CommandUnsupportedError(`command '${simple}'`);
    if (prog === 'true' || prog === ':' || base === 'defaults.sh') continue;
    if (prog === 'false') return { ok: false, message: `command failed: ${simple}` };
    if (prog === 'sysctl' || prog === '/sbin/sysctl' || prog === '/usr/sbin/sysctl') {
      runSysctl(words, ctx);
      continue;
    }
    if (base === 'set_sysctls.py') {
      for (const w of words.slice(1)) {
        const eq = w.indexOf('=');
        const name = eq < 0 ? null : procPathToName(w.slice(0, eq));
        if (name === null) throw new CommandUnsupportedError(`set_sysctls.py argument ${w}`);
        applyAssignment(name, w.slice(eq + 1), ctx);
      }
      continue;
    }
    // echo V > /proc/sys/net/ipv4/...
    const echo = /^echo\s+("[^"]*"|'[^']*'|\S+(?:\s+\S+)*?)\s*>\s*(\/proc\/sys\/\S+)$/.exec(simple);
    if (echo !== null) {
      const name = procPathToName(echo[2]!)!;
      applyAssignment(name, echo[1]!.replace(/^["']|["']$/g, ''), ctx);
      continue;
    }
    throw new CommandUnsupportedError(`command '${simple}'`);
  }
  return { ok: true };
}
