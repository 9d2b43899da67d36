/**
 * An iperf3 server on the stack: the real `iperf3 -c` client (3.x, TCP)
 * measures tuntcp unchanged, so our numbers and the kernel's come from the
 * same tool.
 *
 * The protocol, as iperf3's iperf_server_api.c / iperf_api.c speak it:
 *
 *   control connection (client -> server: 37-byte cookie)
 *     server: PARAM_EXCHANGE          client: u32 length + JSON parameters
 *     server: CREATE_STREAMS          client: N more connections to the same
 *                                     port, each starting with the cookie
 *     server: TEST_START, TEST_RUNNING
 *       data flows on the streams: forward, the client sends and we discard;
 *       reverse (-R), we send; --bidir, both (our first N streams receive)
 *     client: TEST_END
 *     server: EXCHANGE_RESULTS        client: u32 length + JSON results,
 *                                     server: u32 length + JSON results
 *     server: DISPLAY_RESULTS         client: IPERF_DONE, then closes
 *
 * Every state is one signed byte on the control connection. One test runs at
 * a time, as with the real server: a second client gets ACCESS_DENIED. Errors
 * we detect go back as SERVER_ERROR followed by two big-endian 32-bit numbers
 * (iperf3's i_errno and errno), which the client prints as its own message.
 */
import { randomFillSync } from 'node:crypto';
import type { Socket, TuntcpNet } from '../socket/net.ts';
import { startService, type Service, type ServiceBehaviour } from './service.ts';

/** iperf.h: the control-connection states. */
export const IPERF3_STATE = {
  TEST_START: 1,
  TEST_RUNNING: 2,
  TEST_END: 4,
  PARAM_EXCHANGE: 9,
  CREATE_STREAMS: 10,
  SERVER_TERMINATE: 11,
  CLIENT_TERMINATE: 12,
  EXCHANGE_RESULTS: 13,
  DISPLAY_RESULTS: 14,
  IPERF_START: 15,
  IPERF_DONE: 16,
  ACCESS_DENIED: -1,
  SERVER_ERROR: -2,
} as const;

/** iperf_api.h: the i_errno values we can send with SERVER_ERROR. */
const IE = {
  NUMSTREAMS: 6,
  BLOCKSIZE: 7,
  DURATION: 5,
  UNIMP: 13,
  RECVPARAMS: 114,
  RECVRESULTS: 117,
} as const;

/** iperf.h COOKIE_SIZE: 36 characters and the terminating NUL. */
export const IPERF3_COOKIE_SIZE = 37;
/** iperf.h limits the client enforces too; we refuse more rather than trust the peer. */
const MAX_STREAMS = 128;
const MAX_BLOCKSIZE = 1024 * 1024;
const MAX_TIME_S = 86_400;
const DEFAULT_BLOCKSIZE = 128 * 1024;
/** Parameters are ~300 bytes; a client's results grow with -P (about 150 bytes a stream). */
const MAX_JSON_BYTES = 1024 * 1024;
/** A connection that has not sent its cookie by then is dropped. */
const COOKIE_TIMEOUT_MS = 10_000;
/** Between two control messages outside the running phase (params, streams, results). */
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** iperf_server_api.c gives up duration + omit + 5 s after TEST_START; we allow a little more. */
const RUN_GRACE_S = 10;
/** Tests without a time limit (-n / -k) are still bounded. */
const UNTIMED_LIMIT_S = 3_600;
const KEEP_RESULTS = 32;

/** What one data stream did, as we counted it. */
export interface Iperf3StreamResult {
  /** iperf3's stream id (1, 3, 4, 5, ...: iperf_add_stream's numbering, which the client shares). */
  id: number;
  /** True when we sent on this stream (reverse or the second half of --bidir). */
  sender: boolean;
  /** Bytes received from the client, or bytes handed to TCP for sending, between TEST_START (after --omit) and TEST_END. */
  bytes: number;
  /** Retransmitted segments (sending streams; -1 on receiving ones, as iperf3 reports). */
  retransmits: number;
  seconds: number;
}

export interface Iperf3TestResult {
  cookie: string;
  reverse: boolean;
  bidirectional: boolean;
  parallel: number;
  /** -t, seconds (0 with -n / -k). */
  duration: number;
  blockSize: number;
  streams: Iperf3StreamResult[];
  /** Sums over the streams. */
  bytesReceived: number;
  bytesSent: number;
  /** The client's own results JSON, as it sent it. */
  clientResults: unknown;
  /** null after a complete exchange; otherwise why the test ended early. */
  error: string | null;
}

export interface Iperf3Options extends ServiceBehaviour {
  /** Called once per test, complete or not. */
  onTest?: (result: Iperf3TestResult) => void;
}

export interface Iperf3Service extends Service {
  /** The most recent tests, oldest first (at most 32). */
  readonly results: readonly Iperf3TestResult[];
  /** True while a client holds the server. */
  readonly busy: boolean;
}

interface Parameters {
  reverse: boolean;
  bidirectional: boolean;
  parallel: number;
  duration: number;
  omit: number;
  blockSize: number;
  /** -n: bytes to send in total (0: no limit). */
  bytes: number;
  /** -k: blocks to send in total (0: no limit). */
  blocks: number;
  getServerOutput: boolean;
}

interface Stream {
  id: number;
  socket: Socket;
  sender: boolean;
  /** Bytes counted since the start (or since --omit ended). */
  bytes: number;
  /** Sender: bytes handed to TCP when --omit ended, subtracted at the end. */
  omitBase: number;
  /** Snapshot at TEST_END. */
  final: Iperf3StreamResult | null;
}

type Phase = 'cookie' | 'params' | 'create-streams' | 'running' | 'results' | 'display' | 'done';

/** Accumulates what a socket delivers and hands out exact byte counts. */
class ByteQueue {
  private chunks: Buffer[] = [];
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** The next `n` bytes, or null if fewer are buffered. */
  take(n: number): Buffer | null {
    if (this.size < n) return null;
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - filled);
        c.copy(out, filled, 0, k);
        filled += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.size -= n;
    return out;
  }

  /** Everything buffered, as one buffer. */
  drain(): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    return all;
  }
}

function stateByte(state: number): Buffer {
  return Buffer.from([state & 0xff]);
}

function serverError(iErrno: number, errno = 0): Buffer {
  const b = Buffer.alloc(9);
  b.writeInt8(IPERF3_STATE.SERVER_ERROR, 0);
  b.writeInt32BE(iErrno, 1);
  b.writeInt32BE(errno, 5);
  return b;
}

function jsonMessage(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Reads iperf3's parameter JSON; a problem is returned as the i_errno to report. */
function parseParameters(text: string): Parameters | { error: number } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { error: IE.RECVPARAMS };
  }
  if (typeof raw !== 'object' || raw === null) return { error: IE.RECVPARAMS };
  const j = raw as Record<string, unknown>;
  // The client sends a key only when the option is on ("reverse": true), so
  // presence is what counts, as in iperf_api.c's get_parameters.
  const has = (k: string): boolean => j[k] !== undefined && j[k] !== null && j[k] !== false;
  const int = (k: string, dflt: number): number => {
    const v = j[k];
    return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : dflt;
  };
  if (has('udp') || has('sctp')) return { error: IE.UNIMP };
  const p: Parameters = {
    reverse: has('reverse'),
    bidirectional: has('bidirectional'),
    parallel: int('parallel', 1),
    duration: int('time', 10),
    omit: int('omit', 0),
    blockSize: int('len', DEFAULT_BLOCKSIZE),
    bytes: int('num', 0),
    blocks: int('blockcount', 0),
    getServerOutput: has('get_server_output'),
  };
  if (p.parallel < 1 || p.parallel > MAX_STREAMS) return { error: IE.NUMSTREAMS };
  if (p.blockSize < 1 || p.blockSize > MAX_BLOCKSIZE) return { error: IE.BLOCKSIZE };
  if (p.duration < 0 || p.duration > MAX_TIME_S || p.omit < 0 || p.omit > MAX_TIME_S) return { error: IE.DURATION };
  if (p.bytes < 0 || p.blocks < 0) return { error: IE.RECVPARAMS };
  return p;
}

/** One client's test: its control connection, its streams, its timers. */
class Iperf3Test {
  phase: Phase = 'cookie';
  cookie = '';
  params: Parameters | null = null;
  readonly streams: Stream[] = [];
  private readonly control = new ByteQueue();
  private timer: NodeJS.Timeout | null = null;
  private omitTimer: NodeJS.Timeout | null = null;
  private startedAt = 0;
  private endedAt = 0;
  private cpuAtStart: NodeJS.CpuUsage | null = null;
  private cpu = { total: 0, user: 0, system: 0 };
  private block: Buffer | null = null;
  private sentLimit = Infinity;
  private sentTotal = 0;
  private clientResults: unknown = null;
  private finished = false;

  constructor(
    readonly ctrl: Socket,
    private readonly onFinish: (test: Iperf3Test, result: Iperf3TestResult) => void,
  ) {
    // The state bytes are single-byte writes that must not wait for an ACK.
    ctrl.setNoDelay(true);
    ctrl.on('data', (chunk: Buffer) => this.onControlData(chunk));
    ctrl.on('error', () => undefined);
    ctrl.on('close', () => {
      // A client that closes right after DISPLAY_RESULTS has seen everything.
      if (this.phase === 'display' || this.phase === 'done') this.finish(null);
      else this.finish(`the client closed the control connection (${this.phase})`);
    });
    this.arm(COOKIE_TIMEOUT_MS, 'no cookie from the client');
  }

  /** A connection that arrives while this test waits for its streams. */
  offerStream(socket: Socket, cookie: string): boolean {
    const p = this.params;
    if (this.phase !== 'create-streams' || p === null || cookie !== this.cookie) return false;
    const wanted = p.bidirectional ? 2 * p.parallel : p.parallel;
    if (this.streams.length >= wanted) return false;
    // Receivers first, then senders: iperf_run_server's order, which the
    // client's iperf_create_streams mirrors for --bidir.
    const receivers = p.reverse ? 0 : p.parallel;
    const sender = this.streams.length >= receivers;
    // Bytes behind the cookie before TEST_RUNNING are not counted: iperf3
    // reads streams only while running (and its client sends nothing earlier).
    // iperf_add_stream numbers streams 1, 3, 4, 5, ... (it starts the count
    // at 2 for the second); the client does the same, and results are
    // matched by these ids.
    const id = this.streams.length === 0 ? 1 : this.streams.length + 2;
    const stream: Stream = { id, socket, sender, bytes: 0, omitBase: 0, final: null };
    this.streams.push(stream);
    socket.on('error', () => undefined);
    if (sender) {
      socket.on('drain', () => this.fill(stream));
      socket.resume(); // nothing is expected from the client on a stream we send on
    } else {
      socket.on('data', (chunk: Buffer) => {
        if (this.phase === 'running') stream.bytes += chunk.length;
      });
    }
    socket.on('close', () => {
      if (this.phase === 'create-streams' || this.phase === 'running') {
        this.fail(`stream ${id} closed during the test`, null);
      }
    });
    if (this.streams.length === wanted) this.start();
    return true;
  }

  private onControlData(chunk: Buffer): void {
    this.control.push(chunk);
    if (this.control.length > MAX_JSON_BYTES + 4) {
      this.fail('the client sent more control data than any message holds', IE.RECVPARAMS);
      return;
    }
    this.process();
  }

  /** Consumes whatever complete control messages are buffered, in protocol order. */
  private process(): void {
    for (;;) {
      if (this.finished) return;
      switch (this.phase) {
        case 'cookie': {
          const c = this.control.take(IPERF3_COOKIE_SIZE);
          if (!c) return;
          this.cookie = cookieText(c);
          this.phase = 'params';
          this.send(stateByte(IPERF3_STATE.PARAM_EXCHANGE));
          this.arm(HANDSHAKE_TIMEOUT_MS, 'no parameters from the client');
          break;
        }
        case 'params': {
          const json = this.takeJson();
          if (json === undefined) return;
          if (json === null) return this.fail('parameter message too long', IE.RECVPARAMS);
          const p = parseParameters(json);
          if ('error' in p) return this.fail(`parameters refused (i_errno ${p.error})`, p.error);
          this.params = p;
          this.phase = 'create-streams';
          this.send(stateByte(IPERF3_STATE.CREATE_STREAMS));
          this.arm(HANDSHAKE_TIMEOUT_MS, 'the client did not open its streams');
          break;
        }
        case 'create-streams':
        case 'running': {
          const s = this.control.take(1);
          if (!s) return;
          const state = s.readInt8(0);
          if (state === IPERF3_STATE.TEST_START) break; // iperf_handle_message_server ignores it too
          if (state === IPERF3_STATE.TEST_END && this.phase === 'running') {
            this.endTest();
            break;
          }
          if (state === IPERF3_STATE.CLIENT_TERMINATE) return this.fail('the client terminated the test', null);
          return this.fail(`unexpected state ${state} from the client`, null);
        }
        case 'results': {
          const json = this.takeJson();
          if (json === undefined) return;
          if (json === null) return this.fail('results message too long', IE.RECVRESULTS);
          try {
            this.clientResults = JSON.parse(json);
          } catch {
            return this.fail('the client sent results that are not JSON', IE.RECVRESULTS);
          }
          this.send(jsonMessage(this.resultsJson()));
          this.send(stateByte(IPERF3_STATE.DISPLAY_RESULTS));
          this.phase = 'display';
          this.arm(HANDSHAKE_TIMEOUT_MS, 'the client did not say IPERF_DONE');
          break;
        }
        case 'display': {
          const s = this.control.take(1);
          if (!s) return;
          const state = s.readInt8(0);
          if (state === IPERF3_STATE.IPERF_DONE) {
            this.phase = 'done';
            this.finish(null);
            return;
          }
          if (state === IPERF3_STATE.CLIENT_TERMINATE) return this.fail('the client terminated the test', null);
          return this.fail(`unexpected state ${state} from the client`, null);
        }
        case 'done':
          this.control.drain();
          return;
      }
    }
  }

  /** A length-prefixed JSON text; undefined until complete, null if over the limit. */
  private takeJson(): string | null | undefined {
    if (this.control.length < 4) return undefined;
    const head = this.control.take(4)!;
    const n = head.readUInt32BE(0);
    if (n > MAX_JSON_BYTES) return null;
    if (this.control.length < n) {
      // Put the length back in front: the rest arrives with the next chunk.
      const rest = this.control.drain();
      this.control.push(Buffer.concat([head, rest]));
      return undefined;
    }
    return this.control.take(n)!.toString('utf8');
  }

  private start(): void {
    const p = this.params!;
    this.phase = 'running';
    this.startedAt = performance.now();
    this.cpuAtStart = process.cpuUsage();
    this.send(Buffer.from([IPERF3_STATE.TEST_START, IPERF3_STATE.TEST_RUNNING]));
    const limit = p.duration > 0 ? p.duration + p.omit + RUN_GRACE_S : UNTIMED_LIMIT_S;
    this.arm(limit * 1000, 'the test ran past its time without TEST_END');
    if (p.omit > 0) {
      // iperf_reset_stats at the end of --omit: counting starts over.
      this.omitTimer = setTimeout(() => {
        this.omitTimer = null;
        this.startedAt = performance.now();
        this.cpuAtStart = process.cpuUsage();
        for (const s of this.streams) {
          if (s.sender) s.omitBase = s.bytes;
          else s.bytes = 0;
        }
      }, p.omit * 1000);
    }
    const senders = this.streams.filter((s) => s.sender);
    if (senders.length > 0) {
      this.block = Buffer.allocUnsafe(p.blockSize);
      // Random payload, as iperf3 sends unless --repeating-payload.
      randomFillSync(this.block);
      if (p.bytes > 0) this.sentLimit = p.bytes;
      else if (p.blocks > 0) this.sentLimit = p.blocks * p.blockSize;
      for (const s of senders) this.fill(s);
    }
  }

  /** Keeps a sending stream's buffers full while the test runs (the chargen loop). */
  private fill(stream: Stream): void {
    const block = this.block;
    if (block === null) return;
    const socket = stream.socket;
    while (this.phase === 'running' && socket.writable && this.sentTotal < this.sentLimit) {
      stream.bytes += block.length;
      this.sentTotal += block.length;
      if (!socket.write(block)) return;
    }
  }

  private endTest(): void {
    this.endedAt = performance.now();
    const seconds = (this.endedAt - this.startedAt) / 1000;
    const used = process.cpuUsage(this.cpuAtStart ?? undefined);
    const wallUs = Math.max(1, (this.endedAt - this.startedAt) * 1000);
    this.cpu = {
      user: (100 * used.user) / wallUs,
      system: (100 * used.system) / wallUs,
      total: (100 * (used.user + used.system)) / wallUs,
    };
    for (const s of this.streams) {
      // Everything handed to the socket counts, also what its stream buffer
      // still holds: end() below sends it before the FIN, so the client
      // receives it (counting less let the client's total exceed ours).
      const bytes = s.sender ? s.bytes - s.omitBase : s.bytes;
      s.final = {
        id: s.id,
        sender: s.sender,
        bytes: Math.max(0, bytes),
        retransmits: s.sender ? (s.socket.getInfo()?.totalRetransmits ?? 0) : -1,
        seconds,
      };
    }
    // The test is over: stop counting and sending; the streams close with a
    // FIN after what is queued, as close(2) does on the real server.
    this.phase = 'results';
    if (this.omitTimer) clearTimeout(this.omitTimer);
    this.omitTimer = null;
    for (const s of this.streams) {
      if (!s.sender) s.socket.resume();
      s.socket.end();
    }
    this.send(stateByte(IPERF3_STATE.EXCHANGE_RESULTS));
    this.arm(HANDSHAKE_TIMEOUT_MS, 'no results from the client');
  }

  /** send_results in iperf_api.c: what the client prints as our side of the summary. */
  private resultsJson(): Record<string, unknown> {
    const p = this.params!;
    const sends = this.streams.some((s) => s.sender);
    const out: Record<string, unknown> = {
      cpu_util_total: this.cpu.total,
      cpu_util_user: this.cpu.user,
      cpu_util_system: this.cpu.system,
      // -1 says "this side only received" (send_results in iperf_api.c); our
      // sending streams report the core's retransmission count.
      sender_has_retransmits: sends ? 1 : -1,
      streams: this.streams.map((s) => {
        const f = s.final!;
        return {
          id: f.id,
          bytes: f.bytes,
          retransmits: f.retransmits,
          jitter: 0,
          errors: 0,
          packets: 0,
          start_time: 0,
          end_time: f.seconds,
        };
      }),
    };
    if (p.getServerOutput) out['server_output_text'] = this.summaryText();
    return out;
  }

  private summaryText(): string {
    const lines = this.streams.map((s) => {
      const f = s.final!;
      const mbit = f.seconds > 0 ? (f.bytes * 8) / f.seconds / 1e6 : 0;
      return `[${String(f.id).padStart(3)}] tuntcp ${f.sender ? 'sent' : 'received'} ${f.bytes} bytes in ${f.seconds.toFixed(2)} s (${mbit.toFixed(1)} Mbit/s)\n`;
    });
    return lines.join('');
  }

  private send(data: Buffer): void {
    if (this.ctrl.writable) this.ctrl.write(data);
  }

  /** (Re)starts the one watchdog of the current phase. */
  private arm(ms: number, why: string): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fail(why, null);
    }, ms);
  }

  /** Ends the test early: SERVER_ERROR when we have an iperf3 error code to give, then everything closes. */
  fail(why: string, iErrno: number | null): void {
    if (this.finished) return;
    if (iErrno !== null) this.send(serverError(iErrno));
    this.finish(why);
  }

  /** DISPLAY_RESULTS is sent: the client has everything; only its IPERF_DONE is outstanding. */
  get resultsDelivered(): boolean {
    return this.phase === 'display' || this.phase === 'done';
  }

  /** Ends a test whose client has its results (see resultsDelivered) as a clean one. */
  complete(): void {
    this.finish(null);
  }

  /** Server shutdown: SERVER_TERMINATE, as iperf3 -s does on a signal. */
  terminate(): void {
    if (this.finished) return;
    this.send(stateByte(IPERF3_STATE.SERVER_TERMINATE));
    this.finish('the server was stopped');
  }

  private finish(error: string | null): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.omitTimer) clearTimeout(this.omitTimer);
    this.timer = this.omitTimer = null;
    const clean = error === null;
    for (const s of this.streams) {
      // After a clean end the streams are already closing with FIN; an
      // aborted test leaves nothing half-open behind.
      if (!clean) s.socket.destroy();
    }
    if (this.ctrl.writable) this.ctrl.end();
    if (!clean) setTimeout(() => this.ctrl.destroy(), 1000).unref();
    const p = this.params;
    const streams = this.streams.map(
      (s) => s.final ?? { id: s.id, sender: s.sender, bytes: s.bytes, retransmits: -1, seconds: 0 },
    );
    this.onFinish(this, {
      cookie: this.cookie,
      reverse: p?.reverse ?? false,
      bidirectional: p?.bidirectional ?? false,
      parallel: p?.parallel ?? 0,
      duration: p?.duration ?? 0,
      blockSize: p?.blockSize ?? 0,
      streams,
      bytesReceived: streams.filter((s) => !s.sender).reduce((a, s) => a + s.bytes, 0),
      bytesSent: streams.filter((s) => s.sender).reduce((a, s) => a + s.bytes, 0),
      clientResults: this.clientResults,
      error,
    });
  }
}

/** The cookie is a NUL-terminated string of 36 characters. */
function cookieText(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('latin1');
}

/**
 * Starts an iperf3 server on `port` (TCP tests: forward, -R, --bidir, -P N,
 * -t / -n / -k, -O). Run the stock client against it:
 * `ip netns exec NS iperf3 -c 10.0.0.2`.
 */
export function startIperf3(net: TuntcpNet, port = 5201, options: Iperf3Options = {}): Iperf3Service {
  const results: Iperf3TestResult[] = [];
  let active: Iperf3Test | null = null;

  const onFinish = (test: Iperf3Test, result: Iperf3TestResult): void => {
    if (active === test) active = null;
    results.push(result);
    if (results.length > KEEP_RESULTS) results.shift();
    options.onTest?.(result);
  };

  const onSocket = (socket: Socket): void => {
    socket.on('error', () => undefined);
    // The last test's client has its results and is about to say IPERF_DONE
    // and close; a client starting right after it (a script running tests
    // back to back, the bench) would otherwise be told the server is busy.
    if (active !== null && active.resultsDelivered) active.complete();
    // Busy outside the stream-creation window: refuse at once without reading,
    // as iperf_accept does, so a stray client cannot stall a running test.
    if (active !== null && active.phase !== 'create-streams') {
      socket.end(stateByte(IPERF3_STATE.ACCESS_DENIED));
      return;
    }
    if (active === null) {
      active = new Iperf3Test(socket, onFinish);
      return;
    }
    // A stream of the active test (or a second client racing it): the cookie decides.
    const pending = new ByteQueue();
    const timer = setTimeout(() => socket.destroy(), COOKIE_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      pending.push(chunk);
      const cookie = pending.take(IPERF3_COOKIE_SIZE);
      if (!cookie) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onEarlyClose);
      const test = active;
      if (test === null || !test.offerStream(socket, cookieText(cookie))) {
        socket.end(stateByte(IPERF3_STATE.ACCESS_DENIED));
      }
    };
    const onEarlyClose = (): void => clearTimeout(timer);
    socket.on('data', onData);
    socket.on('close', onEarlyClose);
  };

  const service = startService(net, 'iperf3', { ...options, port }, { allowHalfOpen: false }, onSocket);
  const finishConnections = service.finishConnections;
  return {
    ...service,
    get results() {
      return results;
    },
    get busy() {
      return active !== null;
    },
    finishConnections() {
      // The client hears SERVER_TERMINATE before its sockets get their FIN.
      active?.terminate();
      finishConnections();
    },
  };
}
