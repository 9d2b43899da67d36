/**
 * The one client program of the bench's request/response measurements, run
 * unchanged against all three paths (kernel over veth, slirp4netns, tuntcp)
 * inside the client namespace with `ip netns exec`. It is Node's own `net`
 * on the kernel's TCP, so whatever the client costs, it costs the same on
 * every path.
 *
 *   rr   --host H --port P [--seconds S] [--max N]
 *        one connection; 1-byte request, wait for the 1-byte reply, repeat.
 *        Prints {"mode":"rr","samples":n,"medianUs":..,"p99Us":..,...}
 *   crr  --host H --port P [--seconds S] [--concurrency C] [--max N]
 *        short connections: connect, 1-byte request, 1-byte reply, close (the
 *        client closes first and waits for the server's FIN), C at a time.
 *        Prints {"mode":"crr","connections":n,"perSecond":..,"errors":e}
 *   idle --targets H:P[,H:P...] [--local A[,A...]] --count N [--concurrency C] [--hold-seconds S]
 *        [--connect-timeout-seconds T] [--stall-seconds Z]
 *        opens N connections round-robin over the targets (bound to the local
 *        addresses round-robin when given, with source ports counted up from
 *        1024 per address: one source address holds at most ~64k), prints {"mode":"idle","open":n,"ms":t} every second
 *        while it connects (for at most T seconds, and no longer than Z seconds
 *        after the last connection that succeeded: a server at its limit ends
 *        the attempt instead of running out the clock), then
 *        {"mode":"idle","established":n,...}, and holds them
 *        until stdin closes or S seconds pass, then resets them all and exits.
 *
 * Every loop is bounded by count and time and ends by itself.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    host: { type: 'string' },
    port: { type: 'string' },
    seconds: { type: 'string', default: '3' },
    max: { type: 'string', default: '1000000' },
    concurrency: { type: 'string', default: '4' },
    targets: { type: 'string' },
    local: { type: 'string' },
    count: { type: 'string', default: '10000' },
    'hold-seconds': { type: 'string', default: '120' },
    'connect-timeout-seconds': { type: 'string', default: '60' },
    'stall-seconds': { type: 'string', default: '60' },
  },
});

function num(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} ${String(text)}: expected a non-negative number`);
  return n;
}

function fail(message: string): never {
  process.stderr.write(`rr-client: ${message}\n`);
  process.exit(2);
}

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

const ONE = Buffer.from([0x2a]);

/** Percentile of sorted values (nearest rank). */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** `timeoutMs`: give up on a handshake that takes longer (a SYN nobody answers would take the kernel ~2 min). */
function connectOnce(host: string, port: number, localAddress?: string, localPort?: number, timeoutMs = Infinity): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({
      host,
      port,
      noDelay: true,
      ...(localAddress !== undefined ? { localAddress } : {}),
      ...(localPort !== undefined ? { localPort } : {}),
    });
    const timer =
      timeoutMs === Infinity
        ? null
        : setTimeout(() => {
            s.destroy();
            reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
          }, timeoutMs);
    const onError = (err: Error): void => {
      if (timer) clearTimeout(timer);
      reject(err);
    };
    s.once('connect', () => {
      if (timer) clearTimeout(timer);
      s.off('error', onError);
      resolve(s);
    });
    s.once('error', onError);
  });
}

async function rr(host: string, port: number, seconds: number, max: number): Promise<void> {
  const socket = await connectOnce(host, port);
  socket.setNoDelay(true);
  const samples = new Float64Array(Math.min(max, 5_000_000));
  let n = 0;
  const warmup = 50;
  const deadline = performance.now() + seconds * 1000;
  await new Promise<void>((resolve, reject) => {
    let sentAt = 0;
    let i = 0;
    const next = (): void => {
      if (i >= warmup + samples.length || performance.now() >= deadline) {
        resolve();
        return;
      }
      sentAt = performance.now();
      socket.write(ONE);
    };
    socket.on('data', (chunk: Buffer) => {
      // One byte per reply; a coalesced reply (never expected) still counts once per byte.
      for (let k = 0; k < chunk.length; k++) {
        const us = (performance.now() - sentAt) * 1000;
        if (i >= warmup && n < samples.length) samples[n++] = us;
        i++;
      }
      next();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
    next();
  });
  socket.resetAndDestroy();
  const sorted = samples.subarray(0, n).sort();
  print({
    mode: 'rr',
    samples: n,
    medianUs: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
    minUs: n > 0 ? sorted[0] : NaN,
    maxUs: n > 0 ? sorted[n - 1] : NaN,
  });
}

async function crr(host: string, port: number, seconds: number, concurrency: number, max: number): Promise<void> {
  let done = 0;
  let errors = 0;
  let started = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect({ host, port, noDelay: true });
      let replied = false;
      // A connection that hangs (a lost SYN with a 1 s RTO...) must not stall the run.
      s.setTimeout(5_000, () => s.destroy(new Error('timeout')));
      s.once('connect', () => s.write(ONE));
      s.on('data', () => {
        if (replied) return;
        replied = true;
        s.end();
      });
      s.on('error', () => {
        errors++;
      });
      s.on('close', () => {
        if (replied) done++;
        resolve();
      });
    });
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline && started < max) {
      started++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  print({ mode: 'crr', connections: done, errors, seconds: elapsed, perSecond: done / elapsed, concurrency });
}

/**
 * Source ports for connections bound to a source address, chosen here rather
 * than by bind(addr, 0). libuv binds with SO_REUSEADDR, with which Linux's
 * bind(0) (inet_csk_find_open_port) searches the lower half of the port
 * range first, odd ports first (with 1024-65535: the 16,128 odd ports below
 * 33280), running a conflict check on each port already taken. Once one
 * source address holds those 16k ports, every further bind checks all of
 * them before it finds a free even one. `perf` on a 100k run showed the
 * client processes at 2 cores of system time in inet_bhash2_conflict and
 * inet_bind2_bucket_match_addr_any under bind(2), and the connect rate
 * falling from ~9,000/s to ~200/s at ~85k connections (5 clients x 16k +
 * 5k), with the kernel's own server (veth) as with tuntcp, while the tuntcp
 * process sat at 9% CPU. Binding an explicit port is one bucket lookup. Each idle client owns its source addresses, so
 * counting up from the bottom of the range (tuneClientNamespace's
 * 1024-65535) collides only with what other programs left on the same
 * address (TIME-WAIT of earlier runs): such a port fails at bind or connect
 * and the next one is tried.
 */
const FIRST_PORT = 1024;
const LAST_PORT = 65535;
/** Ports tried per connection before it counts as failed. */
const PORT_ATTEMPTS = 16;

class PortAllocator {
  private readonly next = new Map<string, number>();

  /** The next untried port of `address`, or undefined when the range is used up. */
  take(address: string): number | undefined {
    const port = this.next.get(address) ?? FIRST_PORT;
    if (port > LAST_PORT) return undefined;
    this.next.set(address, port + 1);
    return port;
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

async function idle(
  targets: { host: string; port: number }[],
  locals: string[],
  count: number,
  concurrency: number,
  holdSeconds: number,
  connectTimeoutSeconds: number,
  stallSeconds: number,
): Promise<void> {
  const sockets: net.Socket[] = [];
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  const deadline = t0 + connectTimeoutSeconds * 1000;
  let lastSuccess = t0;
  const connecting = (): boolean => {
    const now = performance.now();
    return now < deadline && now - lastSuccess < stallSeconds * 1000;
  };
  let firstError = '';
  let portsSkipped = 0;
  const ports = new PortAllocator();
  const worker = async (): Promise<void> => {
    while (next < count && connecting()) {
      const i = next++;
      const t = targets[i % targets.length]!;
      const local = locals.length > 0 ? locals[Math.floor(i / targets.length) % locals.length] : undefined;
      for (let attempt = 1; ; attempt++) {
        const localPort = local !== undefined ? ports.take(local) : undefined;
        try {
          if (local !== undefined && localPort === undefined) throw new Error(`no source port left on ${local}`);
          const s = await connectOnce(t.host, t.port, local, localPort, stallSeconds * 1000);
          s.on('error', () => undefined);
          sockets.push(s);
          lastSuccess = performance.now();
          break;
        } catch (err) {
          // A port some other socket still holds: try the next one.
          const code = errorCode(err);
          if (localPort !== undefined && (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL') && attempt < PORT_ATTEMPTS) {
            portsSkipped++;
            continue;
          }
          errors++;
          if (firstError === '') firstError = err instanceof Error ? err.message : String(err);
          break;
        }
      }
    }
  };
  // A progress line a second ({"mode":"idle","open":n,"ms":t}): the bench
  // sums them over its clients to show the connect rate as the count grows.
  const progress = setInterval(() => print({ mode: 'idle', open: sockets.length, errors, ms: Math.round(performance.now() - t0) }), 1_000);
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearInterval(progress);
  const ms = performance.now() - t0;
  print({ mode: 'idle', requested: count, established: sockets.length, errors, firstError, portsSkipped, ms });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, holdSeconds * 1000);
    process.stdin.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
    process.stdin.once('error', () => resolve());
    process.stdin.resume();
  });
  // RST rather than FIN: a hundred thousand orderly closes would only
  // measure teardown and fill the client namespace with TIME-WAIT.
  for (const s of sockets) s.resetAndDestroy();
  print({ mode: 'idle', closed: sockets.length });
}

const mode = positionals[0];
const seconds = num('seconds', values.seconds);
const max = num('max', values.max);
switch (mode) {
  case 'rr':
  case 'crr': {
    if (values.host === undefined || values.port === undefined) fail(`${mode} needs --host and --port`);
    const port = num('port', values.port);
    if (mode === 'rr') await rr(values.host, port, seconds, max);
    else await crr(values.host, port, seconds, Math.max(1, num('concurrency', values.concurrency)), max);
    break;
  }
  case 'idle': {
    const targets = (values.targets ?? '')
      .split(',')
      .filter((t) => t !== '')
      .map((t) => {
        const m = /^(.+):(\d+)$/.exec(t);
        if (!m) fail(`--targets ${t}: expected HOST:PORT`);
        return { host: m[1]!, port: Number(m[2]) };
      });
    if (targets.length === 0) fail('idle needs --targets HOST:PORT[,...]');
    const locals = (values.local ?? '').split(',').filter((a) => a !== '');
    await idle(
      targets,
      locals,
      num('count', values.count),
      Math.max(1, num('concurrency', values.concurrency)),
      num('hold-seconds', values['hold-seconds']),
      num('connect-timeout-seconds', values['connect-timeout-seconds']),
      num('stall-seconds', values['stall-seconds']),
    );
    break;
  }
  default:
    fail(`usage: rr-client.ts rr|crr|idle ... (got ${String(mode)})`);
}
process.exit(0);
