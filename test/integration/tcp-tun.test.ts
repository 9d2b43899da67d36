/**
 * The TCP core over a real TUN device, against peers we did not write: the
 * kernel's TCP in a namespace of this file's own, driven by curl, nc and
 * python3's http.server. Services run in this process on the socket API
 * (Node's own http module, echo), exactly as `tuntcp serve` runs them.
 *
 * Every peer is an asynchronous child process: the stack runs on this event
 * loop, so a synchronous spawn of a client would deadlock it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEcho } from '../../src/services/echo.ts';
import { startHttp } from '../../src/services/http.ts';
import { createNet, type TuntcpNet } from '../../src/socket/net.ts';
import type { Server } from '../../src/socket/server.ts';
import type { Socket } from '../../src/socket/socket.ts';
import { openTunStack, type TunStack } from '../../src/stack/tun-stack.ts';
import { netnsExists, removeNetns, uniqueNetnsName } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';
import {
  killAllPeers,
  makeRandomFile,
  runInNetns,
  sha256File,
  sleep,
  startInNetns,
  tsharkFields,
  waitFor,
  waitForKernelListener,
} from '../helpers/peers.ts';

const STACK = '10.0.0.2';
const KERNEL = '10.0.0.1';
const HTTP_PORT = 80;
const FILES_PORT = 8080;
const ECHO_PORT = 7;
const KERNEL_HTTP_PORT = 8000;
const KERNEL_NC_PORT = 9100;
const BIG = 50 * 1024 * 1024;
const ONE_MB = 1024 * 1024;
const FIVE_MB = 5 * 1024 * 1024;
/** Set TUNTCP_KEEP_PCAP=1 to keep the temp dir (capture included) for a look in Wireshark. */
const KEEP = process.env['TUNTCP_KEEP_PCAP'] === '1';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const mbps = (bytes: number, ms: number): string => `${((bytes * 8) / (ms * 1000)).toFixed(0)} Mbit/s`;

describe.skipIf(!canRunIntegration())('TCP over a real TUN: the kernel (curl, nc, python3) against tuntcp', () => {
  const netns = uniqueNetnsName('tcptun');
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-tcp-tun-'));
  const pcap = path.join(dir, 'tcp-tun.pcap');
  const www = path.join(dir, 'www');
  const kernelWww = path.join(dir, 'kernel-www');
  let stack: TunStack | undefined;
  let tnet: TuntcpNet;
  const servers: Server[] = [];
  const serverErrors: unknown[] = [];
  let bigHash = '';

  beforeAll(async () => {
    mkdirSync(www);
    mkdirSync(kernelWww);
    stack = await openTunStack({
      netns,
      dev: 'tun0',
      address: STACK,
      kernelAddress: `${KERNEL}/24`,
      mtu: 1500,
      txqueuelen: 500,
      pcap,
    });
    tnet = createNet(stack.driver);
    const stats = (): unknown => ({ ip: stack?.stack.stats, tcp: stack?.tcp.stats });
    servers.push(startHttp(tnet, { port: HTTP_PORT, stats }).server);
    servers.push(startHttp(tnet, { port: FILES_PORT, root: www, stats }).server);
    servers.push(startEcho(tnet, ECHO_PORT));
    for (const s of servers) s.on('error', (err: unknown) => serverErrors.push(err));
    bigHash = await makeRandomFile(path.join(www, 'big.bin'), BIG);
  });

  afterAll(async () => {
    await killAllPeers();
    await stack?.close();
    removeNetns(netns);
    if (!KEEP) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir} (capture: ${pcap})`);
    expect(netnsExists(netns)).toBe(false);
  });

  it('curl through the kernel gets the answer of Node\'s http served on tuntcp', async () => {
    const body = path.join(dir, 'greeting.txt');
    const r = await runInNetns(
      netns,
      ['curl', '-sS', '--max-time', '10', '-o', body, '-w', '%{http_code} %{size_download}', `http://${STACK}/`],
      { timeoutMs: 15_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(body, 'utf8');
    expect(r.stdout).toBe(`200 ${Buffer.byteLength(text)}`);
    expect(text).toBe(
      'Hello from tuntcp: this answer crossed a TCP stack written in TypeScript.\n' +
        'Try /bytes/1000000, POST /sha256, /slow?rate=2000, /stats\n',
    );
    expect(serverErrors).toEqual([]);
  });

  it('nc -N half-closes against echo: 1 MB comes back byte-exact, both sides close with FINs, no RST', async () => {
    const input = path.join(dir, 'echo-in.bin');
    const output = path.join(dir, 'echo-out.bin');
    const inputHash = await makeRandomFile(input, ONE_MB);
    const echoServer = servers[2]!;
    const seen: { socket: Socket | null; ended: boolean; closed: boolean; error: unknown } = {
      socket: null,
      ended: false,
      closed: false,
      error: null,
    };
    const onConnection = (socket: Socket): void => {
      seen.socket = socket;
      socket.on('end', () => (seen.ended = true));
      socket.on('close', () => (seen.closed = true));
      socket.on('error', (err: unknown) => (seen.error = err));
    };
    echoServer.on('connection', onConnection);
    try {
      const r = await runInNetns(netns, ['nc', '-N', STACK, String(ECHO_PORT)], {
        timeoutMs: 20_000,
        stdinFile: input,
        stdoutFile: output,
      });
      expect(r.timedOut, 'nc did not finish within 20 s').toBe(false);
      expect(r.code, r.stderr).toBe(0);
      expect(await sha256File(output)).toBe(inputHash);
      // nc exits once it has our FIN; our side closes when the kernel ACKs ours.
      expect(await waitFor(() => seen.closed, 5_000), 'the server socket never closed').toBe(true);
      expect(seen.ended).toBe(true);
      expect(seen.error).toBeNull();
      expect(seen.socket?.bytesRead).toBe(ONE_MB);
    } finally {
      echoServer.off('connection', onConnection);
    }

    // What crossed the TUN: a FIN each way, no RST. (The capture is quiet
    // now; give the file stream a moment to reach the disk.)
    await sleep(300);
    const rows = await tsharkFields(pcap, `tcp.port == ${ECHO_PORT}`, ['tcp.srcport', 'tcp.flags.fin', 'tcp.flags.reset']);
    expect(rows.length).toBeGreaterThan(20);
    const isSet = (v: string | undefined): boolean => v === '1' || v === 'True';
    const fins = rows.filter((r) => isSet(r[1]));
    expect(fins.some((r) => r[0] === String(ECHO_PORT)), 'no FIN from tuntcp').toBe(true);
    expect(fins.some((r) => r[0] !== String(ECHO_PORT)), 'no FIN from nc').toBe(true);
    expect(rows.filter((r) => isSet(r[2])), 'RST on the wire').toEqual([]);
  });

  it('50 MB download (curl) of a random file served by Node\'s http matches its SHA-256', async () => {
    const out = path.join(dir, 'big-download.bin');
    const r = await runInNetns(
      netns,
      ['curl', '-sS', '--max-time', '25', '-o', out, '-w', '%{http_code} %{size_download}', `http://${STACK}:${FILES_PORT}/big.bin`],
      { timeoutMs: 30_000 },
    );
    console.log(`50 MB download: ${r.ms} ms, ${mbps(BIG, r.ms)}`);
    expect(r.timedOut, 'curl did not finish within 30 s').toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`200 ${BIG}`);
    expect(await sha256File(out)).toBe(bigHash);
    rmSync(out, { force: true });
  }, 40_000);

  it('50 MB upload (curl --data-binary) to POST /sha256: the server hashes exactly what was sent', async () => {
    const r = await runInNetns(
      netns,
      [
        'curl', '-sS', '--max-time', '25',
        '-H', 'content-type: application/octet-stream',
        '--data-binary', `@${path.join(www, 'big.bin')}`,
        `http://${STACK}/sha256`,
      ],
      { timeoutMs: 30_000 },
    );
    console.log(`50 MB upload: ${r.ms} ms, ${mbps(BIG, r.ms)}`);
    expect(r.timedOut, 'curl did not finish within 30 s').toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${bigHash}  ${BIG}\n`);
  }, 40_000);

  it('our active open: Node\'s http.get over tuntcp downloads 5 MB from python3 http.server in the namespace', async () => {
    const fileHash = await makeRandomFile(path.join(kernelWww, 'five.bin'), FIVE_MB);
    const server = startInNetns(
      netns,
      ['python3', '-m', 'http.server', '--bind', KERNEL, '--directory', kernelWww, String(KERNEL_HTTP_PORT)],
      { timeoutMs: 30_000 },
    );
    try {
      await waitForKernelListener(netns, KERNEL_HTTP_PORT);
      let socket: Socket | undefined;
      const started = Date.now();
      const result = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        const req = http.get(
          {
            host: KERNEL,
            port: KERNEL_HTTP_PORT,
            path: '/five.bin',
            createConnection: () => {
              socket = tnet.connect({ host: KERNEL, port: KERNEL_HTTP_PORT });
              return socket;
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (d: Buffer) => chunks.push(d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.setTimeout(20_000, () => req.destroy(new Error('http.get timed out after 20 s')));
      });
      console.log(`5 MB download over our active open: ${Date.now() - started} ms`);
      expect(result.status).toBe(200);
      expect(result.body.length).toBe(FIVE_MB);
      expect(sha(result.body)).toBe(fileHash);
      // http.server (HTTP/1.0) closes; our socket sees the FIN and closes cleanly.
      expect(await waitFor(() => socket?.destroyed === true, 5_000), 'our client socket never closed').toBe(true);
      expect(socket?.errored ?? null).toBeNull();
    } finally {
      server.kill('SIGKILL');
      await server.done;
    }
  }, 30_000);

  it('our active open: 5 MB written and ended on a tuntcp socket arrive byte-exact at nc -l in the namespace', async () => {
    const data = randomBytes(FIVE_MB);
    const out = path.join(dir, 'nc-upload.bin');
    const nc = startInNetns(netns, ['nc', '-d', '-l', KERNEL, String(KERNEL_NC_PORT)], { timeoutMs: 20_000, stdoutFile: out });
    try {
      await waitForKernelListener(netns, KERNEL_NC_PORT);
      const socket = tnet.connect({ host: KERNEL, port: KERNEL_NC_PORT });
      let connected = false;
      let closed = false;
      let error: unknown = null;
      socket.on('connect', () => (connected = true));
      socket.on('close', () => (closed = true));
      socket.on('error', (err: unknown) => (error = err));
      socket.resume(); // nc sends nothing; read its FIN
      socket.end(data);
      const r = await nc.done;
      expect(r.timedOut, 'nc -l did not finish within 20 s').toBe(false);
      expect(r.code, r.stderr).toBe(0);
      expect(connected).toBe(true);
      expect(await sha256File(out)).toBe(sha(data));
      expect(await waitFor(() => closed, 5_000), 'our socket never closed').toBe(true);
      expect(error).toBeNull();
      expect(socket.bytesWritten).toBe(FIVE_MB);
    } finally {
      nc.kill('SIGKILL');
      await nc.done;
    }
  }, 30_000);
});
