import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, rmSync, type WriteStream } from 'node:fs';
import http from 'node:http';
import type { Writable } from 'node:stream';
import type { CommandModule } from 'yargs';
import { isIpv4 } from '../../ip/address.ts';
import { createNet } from '../../socket/net.ts';
import type { Socket } from '../../socket/socket.ts';
import { describeTunStack, freeTunDeviceName, openTunStack, type TunStack } from '../../stack/tun-stack.ts';
import { findExecutable } from '../../tun/prerequisites.ts';
import { log, setLogLevel, UsageError } from '../log.ts';
import { withStackOptions, type StackCliOptions, tunStackOptionsFrom } from '../options.ts';
import { formatBytes, formatDuration, ProgressBar } from '../progress.ts';
import { checkWritableFile, tcpConfigFrom, withTcpOptions, type TcpCliOptions } from './serve.ts';

interface GetOptions extends Omit<StackCliOptions, 'dev'>, TcpCliOptions {
  url: string;
  output: string | undefined;
  progress: boolean | undefined;
  dev: string | undefined;
  'timeout-ms': number;
}

interface Target {
  host: string;
  port: number;
  path: string;
}

export function parseTarget(text: string): Target {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${text}: not a URL (expected http://10.0.0.1:8000/path)`);
  }
  if (url.protocol !== 'http:') throw new UsageError(`${text}: only http:// URLs (the stack speaks TCP; TLS is not in it)`);
  if (!isIpv4(url.hostname)) throw new UsageError(`${text}: the host must be an IPv4 address such as 10.0.0.1 (the stack has no DNS)`);
  if (url.hostname.startsWith('127.')) {
    throw new UsageError(`${text}: 127.x is the namespace's loopback, out of the stack's reach; the kernel side is 10.0.0.1`);
  }
  if (url.username || url.password) throw new UsageError(`${text}: credentials in the URL are not supported`);
  return { host: url.hostname, port: url.port === '' ? 80 : Number(url.port), path: `${url.pathname}${url.search}` };
}

/** The kernel drops what we send until it has seen the device come up; wait for that (bounded). */
async function waitUntilUp(netns: string, dev: string, timeoutMs = 3_000): Promise<void> {
  const ip = findExecutable('ip') ?? 'ip';
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; attempt < 300 && Date.now() < deadline; attempt++) {
    const out = execFileSync(ip, ['-n', netns, '-o', 'link', 'show', 'dev', dev], { encoding: 'utf8', timeout: 5_000 });
    if (/\bstate UP\b/.test(out) || /[<,]LOWER_UP[,>]/.test(out)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * `tuntcp get URL`: an HTTP client whose TCP is ours — an active open from
 * the stack to a server on the kernel's side (Node's http client over
 * `createConnection`). It joins the namespace where the server runs (or
 * creates one), brings its own TUN device up there, downloads, and removes
 * what it added.
 */
export const getCommand: CommandModule<object, GetOptions> = {
  command: 'get <url>',
  describe: "download a URL over the stack's own TCP from a server in the namespace (e.g. python3 -m http.server there)",
  builder: (y) =>
    withTcpOptions(withStackOptions(y))
      .positional('url', { type: 'string', demandOption: true, describe: 'http://HOST[:PORT]/PATH, HOST an IPv4 address on the kernel side (10.0.0.1)' })
      .option('netns', {
        type: 'string',
        default: 'tuntcp',
        describe: 'network namespace to join (where the server runs); created, and removed afterwards, if it does not exist',
      })
      .option('dev', {
        type: 'string',
        default: undefined,
        defaultDescription: 'first free tunN',
        describe: 'name of our TUN device in the namespace (created, and removed afterwards)',
      })
      .option('output', { alias: 'o', type: 'string', describe: 'write the body to FILE instead of stdout ("-" is stdout)' })
      .option('progress', {
        type: 'boolean',
        defaultDescription: 'when stderr is a terminal',
        describe: 'show a progress bar (size, rate, ETA) on stderr; --no-progress hides it',
      })
      .option('timeout-ms', { type: 'number', default: 30_000, describe: 'give up when nothing arrives for this long' })
      .example("sudo ip netns add lab; sudo ip netns exec lab python3 -m http.server 8000 &", 'a kernel HTTP server in namespace lab...')
      .example('sudo $0 get --netns lab http://10.0.0.1:8000/big.bin -o big.bin', '...and a download from it over tuntcp'),
  handler: async (argv) => {
    setLogLevel(argv['log-level']);
    let target: Target;
    let stack: TunStack;
    let out: Writable;
    let file: WriteStream | undefined;
    const toStdout = argv.output === undefined || argv.output === '-';
    try {
      target = parseTarget(argv.url);
      const tcp = tcpConfigFrom(argv);
      if (!Number.isInteger(argv['timeout-ms']) || argv['timeout-ms'] < 1) throw new UsageError(`--timeout-ms ${argv['timeout-ms']}: a positive integer`);
      checkWritableFile('--pcap', argv.pcap);
      if (toStdout && argv.pcap === '-') throw new UsageError('--pcap - and the body both want stdout: save the body with -o FILE');
      if (!toStdout) {
        file = createWriteStream(argv.output!, { flags: 'w' });
        await new Promise<void>((resolve, reject) => {
          file!.once('open', () => resolve());
          file!.once('error', (err: NodeJS.ErrnoException) => reject(new UsageError(`-o ${argv.output}: ${err.code ?? err.message}`)));
        });
      }
      out = file ?? process.stdout;
      const dev = argv.dev ?? freeTunDeviceName(argv.netns);
      stack = await openTunStack({
        ...tunStackOptionsFrom(argv),
        dev,
        tcp,
        namespace: 'join',
      });
    } catch (err) {
      if (file) {
        // Nothing was downloaded: do not leave an empty file behind.
        file.destroy();
        rmSync(argv.output!, { force: true });
      }
      log.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    }
    const cleanupNow = (): void => stack.closeNow();
    process.on('uncaughtException', (err) => {
      log.error(`internal error: ${err.message}`);
      cleanupNow();
      process.exit(1);
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        cleanupNow();
        log.error('interrupted');
        process.exit(signal === 'SIGINT' ? 130 : 143);
      });
    }
    log.debug(describeTunStack(stack));
    await waitUntilUp(argv.netns, stack.options.dev);

    const net = createNet(stack.driver);
    let socket: Socket | undefined;
    const started = performance.now();
    const result = await new Promise<{ ok: boolean; message: string; bytes: number }>((resolve) => {
      const req = http.request({
        host: target.host,
        port: target.port,
        path: target.path,
        method: 'GET',
        headers: { 'user-agent': 'tuntcp-get/0.1' },
        // No `agent` key at all: Node uses `createConnection` only "when the
        // agent option is not used" — with `agent: false` it builds a fresh
        // Agent that would open a kernel socket in the root namespace.
        createConnection: () => {
          socket = net.createConnection({
            host: target.host,
            port: target.port,
            noDelay: argv.nodelay,
            rcvBuf: argv.rcvbuf,
            sndBuf: argv.sndbuf,
          });
          socket.setTimeout(argv['timeout-ms']);
          socket.once('timeout', () => socket?.destroy(new Error(`nothing arrived for ${argv['timeout-ms']} ms`)));
          // Node's http types want a net.Socket; ours has the shape http uses.
          return socket as unknown as import('node:net').Socket;
        },
      });
      req.once('socket', (s: unknown) => {
        // Belt and braces: a request must never ride on anything but our stack.
        if (s !== socket) req.destroy(new Error('internal error: the request was not given a tuntcp socket'));
      });
      req.once('error', (err: NodeJS.ErrnoException) => {
        resolve({ ok: false, message: `${target.host}:${target.port}: ${err.message}`, bytes: 0 });
      });
      req.once('response', (res) => {
        void receive(res).then(resolve, (err: unknown) =>
          resolve({ ok: false, message: err instanceof Error ? err.message : String(err), bytes: 0 }),
        );
      });
      req.end();
    });

    async function receive(res: http.IncomingMessage): Promise<{ ok: boolean; message: string; bytes: number }> {
      const lengthHeader = res.headers['content-length'];
      const total = lengthHeader === undefined ? undefined : Number(lengthHeader);
      const showProgress = argv.progress ?? process.stderr.isTTY === true;
      const bar = showProgress
        ? new ProgressBar({ total, sink: process.stderr, tty: process.stderr.isTTY === true, columns: process.stderr.columns ?? 80 })
        : undefined;
      const hash = createHash('sha256');
      let bytes = 0;
      let error: Error | undefined;
      res.once('error', (err) => (error = err));
      try {
        for await (const chunk of res) {
          const b = chunk as Buffer;
          bytes += b.length;
          hash.update(b);
          bar?.add(b.length);
          if (!out.write(b)) await once(out, 'drain');
        }
      } catch (err) {
        error = err instanceof Error ? err : new Error(String(err));
      }
      bar?.finish();
      const status = `${res.statusCode ?? 0} ${res.statusMessage ?? ''}`.trim();
      if (error || !res.complete || (total !== undefined && bytes !== total)) {
        const why = error?.message ?? 'connection closed early';
        return { ok: false, message: `${status}: transfer ended after ${bytes}${total === undefined ? '' : ` of ${total}`} bytes: ${why}`, bytes };
      }
      const seconds = (performance.now() - started) / 1000;
      const rate = seconds > 0 ? bytes / seconds : 0;
      const summary = `${status}, ${bytes} bytes in ${formatDuration(seconds)} (${formatBytes(rate)}/s), sha256 ${hash.digest('hex')}`;
      const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
      return { ok, message: ok ? summary : `server answered ${status}`, bytes };
    }

    // Let our side finish the close (FIN, last ACK) before the device goes.
    const closing = socket as Socket | undefined;
    if (closing && !closing.destroyed) closing.end();
    for (let i = 0; i < 50 && closing && !closing.destroyed; i++) await new Promise((r) => setTimeout(r, 20));
    if (file) {
      file.end();
      await once(file, 'close').catch(() => undefined);
    } else if (process.stdout.writableLength > 0) {
      await once(process.stdout, 'drain').catch(() => undefined);
    }
    await stack.close();
    if (result.ok) {
      log.info(`${result.message}${file ? ` -> ${argv.output}` : ''}`);
      process.exit(0);
    }
    log.error(result.message);
    process.exit(1);
  },
};
