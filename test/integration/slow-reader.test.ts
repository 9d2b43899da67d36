/**
 * Flow control over a real TUN, as a capture shows it: an application on
 * tuntcp stops reading, our receive ring fills, the window we advertise goes
 * to zero, the kernel's sender probes the closed window (and each probe gets
 * our zero-window ACK), and when the application reads again a window update
 * reopens it and the transfer completes byte-exact.
 *
 * Linux probes a zero window with an empty segment one below SND.UNA
 * (tcp_xmit_probe_skb), which tshark labels "TCP Keep-Alive"; a one-byte probe
 * at SND.UNA would be labelled "TCP ZeroWindowProbe". Either counts here.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNet } from '../../src/socket/net.ts';
import type { Server } from '../../src/socket/server.ts';
import { openTunStack, type TunStack } from '../../src/stack/tun-stack.ts';
import { netnsExists, removeNetns, uniqueNetnsName } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';
import { killAllPeers, makeRandomFile, runInNetns, sleep, tsharkFields } from '../helpers/peers.ts';

const STACK = '10.0.0.2';
const KERNEL = '10.0.0.1';
const PORT = 5001;
const SIZE = 10 * 1024 * 1024;
/** The application reads this much, then stops reading for PAUSE_MS. */
const READ_BEFORE_PAUSE = 1024 * 1024;
const PAUSE_MS = 2_000;
/** Our receive ring: the most we ever advertise. */
const RCV_BUF = 65536;
const KEEP = process.env['TUNTCP_KEEP_PCAP'] === '1';

interface Seg {
  /** Wall-clock ms (the capture's clock is Date.now()). */
  t: number;
  seq: number;
  ack: number;
  len: number;
  win: number;
}

function toSeg(row: string[]): Seg {
  return {
    t: Number(row[0]) * 1000,
    seq: Number(row[1]),
    ack: Number(row[2]),
    len: Number(row[3]),
    win: Number(row[4]),
  };
}

const SEG_FIELDS = ['frame.time_epoch', 'tcp.seq', 'tcp.ack', 'tcp.len', 'tcp.window_size'] as const;

describe.skipIf(!canRunIntegration())('slow reader over a real TUN: our window closes, the kernel probes, the window reopens', () => {
  const netns = uniqueNetnsName('slowrd');
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-slow-reader-'));
  const pcap = path.join(dir, 'slow-reader.pcap');
  let stack: TunStack | undefined;
  let server: Server | undefined;
  const serverErrors: unknown[] = [];

  beforeAll(async () => {
    stack = await openTunStack({
      netns,
      dev: 'tun0',
      address: STACK,
      kernelAddress: `${KERNEL}/24`,
      mtu: 1500,
      txqueuelen: 500,
      pcap,
      tcp: { rcvBuf: RCV_BUF },
    });
  });

  afterAll(async () => {
    await killAllPeers();
    await stack?.close();
    removeNetns(netns);
    if (!KEEP) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir} (capture: ${pcap})`);
    expect(netnsExists(netns)).toBe(false);
  });

  it('10 MB from nc to an app that pauses 2 s: zero window, kernel probes answered, window update, byte-exact', async () => {
    if (!stack) throw new Error('stack did not come up');
    const input = path.join(dir, 'in.bin');
    const inputHash = await makeRandomFile(input, SIZE);
    let pausedAt = 0;
    let resumedAt = 0;
    let serverSawEnd = false;
    server = createNet(stack.driver).createServer({ allowHalfOpen: true }, (socket) => {
      const hash = createHash('sha256');
      let n = 0;
      socket.on('error', (err: unknown) => serverErrors.push(err));
      socket.on('data', (d: Buffer) => {
        hash.update(d);
        n += d.length;
        if (pausedAt === 0 && n >= READ_BEFORE_PAUSE) {
          // The application stops reading; whatever arrives waits in the ring.
          socket.pause();
          pausedAt = Date.now();
          setTimeout(() => {
            resumedAt = Date.now();
            socket.resume();
          }, PAUSE_MS);
        }
      });
      socket.on('end', () => {
        serverSawEnd = true;
        socket.end(`${hash.digest('hex')} ${n}\n`);
      });
    });
    server.on('error', (err: unknown) => serverErrors.push(err));
    server.listen(PORT);

    const r = await runInNetns(netns, ['nc', '-N', STACK, String(PORT)], { timeoutMs: 20_000, stdinFile: input });
    console.log(`10 MB with a ${PAUSE_MS} ms pause: ${r.ms} ms`);
    expect(r.timedOut, 'nc did not finish within 20 s').toBe(false);
    expect(r.code, r.stderr).toBe(0);
    // What the application read is exactly what nc sent.
    expect(r.stdout).toBe(`${inputHash} ${SIZE}\n`);
    expect(serverSawEnd).toBe(true);
    expect(serverErrors).toEqual([]);
    expect(pausedAt).toBeGreaterThan(0);
    expect(resumedAt - pausedAt).toBeGreaterThanOrEqual(PAUSE_MS - 5);

    // --- What the capture shows. ---
    await sleep(300); // let the capture's file stream reach the disk
    const ours = (await tsharkFields(pcap, `tcp.srcport == ${PORT}`, SEG_FIELDS)).map(toSeg);
    const theirs = (await tsharkFields(pcap, `tcp.dstport == ${PORT}`, SEG_FIELDS)).map(toSeg);
    expect(ours.length).toBeGreaterThan(10);
    expect(theirs.length).toBeGreaterThan(10);
    const resets = await tsharkFields(pcap, `tcp.port == ${PORT} && tcp.flags.reset == 1`, ['frame.number']);
    expect(resets, 'RST on the wire').toEqual([]);

    // 1. Our advertised window goes to zero while the application is paused,
    //    and never exceeds the receive ring.
    expect(Math.max(...ours.map((s) => s.win))).toBeLessThanOrEqual(RCV_BUF);
    // Right after pause() the stream still pulls up to its highWaterMark out of
    // the ring, so the window may reopen briefly; the zero window that matters
    // is the one still in force when the application resumes.
    // (Capture times have millisecond resolution, so order by position, not time.)
    const lastOpenIndex = ours.findLastIndex((s) => s.t < resumedAt - 5 && s.win > 0);
    const firstZero = ours.find((s, i) => s.win === 0 && i > lastOpenIndex);
    expect(firstZero, 'our window never went to zero during the pause').toBeDefined();
    const zeroAt = firstZero!.t;
    expect(zeroAt).toBeGreaterThanOrEqual(pausedAt - 5);
    expect(zeroAt).toBeLessThan(resumedAt);

    // 2. The window update: the first non-zero window after it closed comes
    //    only once the application reads again, and the window was shut for
    //    most of the pause.
    const reopen = ours.find((s, i) => i > lastOpenIndex && s.win > 0);
    expect(reopen, 'no window update after the zero window').toBeDefined();
    expect(reopen!.t).toBeGreaterThanOrEqual(resumedAt - 5);
    expect(reopen!.t - zeroAt).toBeGreaterThanOrEqual(PAUSE_MS / 2);

    // 3. While it is shut the kernel sends no data inside it, only probes.
    const shut = theirs.filter((s) => s.t > zeroAt + 50 && s.t < reopen!.t);
    const probeRows = await tsharkFields(
      pcap,
      `tcp.dstport == ${PORT} && (tcp.analysis.zero_window_probe || tcp.analysis.keep_alive)`,
      SEG_FIELDS,
    );
    const probes = probeRows.map(toSeg).filter((s) => s.t > zeroAt && s.t < reopen!.t);
    console.log(
      `window shut for ${(reopen!.t - zeroAt).toFixed(0)} ms; kernel probes at +${probes.map((p) => (p.t - zeroAt).toFixed(0)).join(', +')} ms`,
    );
    expect(probes.length, 'the kernel sent no zero-window probes').toBeGreaterThanOrEqual(2);
    expect(shut.filter((s) => s.len > 1), 'data sent into a zero window').toEqual([]);

    // 4. Every probe is answered at once with an ACK that still says zero.
    for (const probe of probes) {
      const answer = ours.find((s) => s.t >= probe.t && s.t <= probe.t + 200);
      expect(answer, `probe at +${(probe.t - zeroAt).toFixed(0)} ms went unanswered`).toBeDefined();
      if (answer!.t < resumedAt) expect(answer!.win).toBe(0);
    }

    // 5. After the update the kernel's data flows again to the end.
    const after = theirs.filter((s) => s.t >= reopen!.t && s.len > 1);
    expect(after.length).toBeGreaterThan(100);
  }, 40_000);
});
