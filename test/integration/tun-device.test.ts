import { spawn } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { internetChecksum } from '../../src/ip/checksum.ts';
import { TunError } from '../../src/tun/native.ts';
import { checkTunPrerequisites } from '../../src/tun/prerequisites.ts';
import { TunDevice } from '../../src/tun/tun-device.ts';
import { canRunIntegration, createTestNamespace } from '../helpers/netns.ts';
import type { TestNamespace } from '../helpers/netns.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KERNEL = [10, 0, 0, 1] as const;
const STACK = [10, 0, 0, 2] as const;
const BURST_PORT = 9999;

function echoRequest(id: number, seq: number, payloadLength = 16): Uint8Array {
  const total = 20 + 8 + payloadLength;
  const p = new Uint8Array(total);
  p[0] = 0x45;
  p[2] = total >>> 8;
  p[3] = total & 0xff;
  p[6] = 0x40; // DF
  p[8] = 64;
  p[9] = 1; // ICMP
  p.set(STACK, 12);
  p.set(KERNEL, 16);
  const ipSum = internetChecksum(p.subarray(0, 20));
  p[10] = ipSum >>> 8;
  p[11] = ipSum & 0xff;
  p[20] = 8; // echo request
  p[24] = id >>> 8;
  p[25] = id & 0xff;
  p[26] = seq >>> 8;
  p[27] = seq & 0xff;
  for (let i = 0; i < payloadLength; i++) p[28 + i] = (seq + i) & 0xff;
  const icmpSum = internetChecksum(p.subarray(20));
  p[22] = icmpSum >>> 8;
  p[23] = icmpSum & 0xff;
  return p;
}

interface EchoReply {
  id: number;
  seq: number;
}

/** An ICMP echo reply from the kernel (10.0.0.1) to the stack (10.0.0.2), checksums verified. */
function parseEchoReply(p: Uint8Array): EchoReply | undefined {
  if (p.length < 28 || p[0] !== 0x45 || p[9] !== 1 || p[20] !== 0) return undefined;
  if (!KERNEL.every((b, i) => p[12 + i] === b) || !STACK.every((b, i) => p[16 + i] === b)) return undefined;
  if (internetChecksum(p.subarray(0, 20)) !== 0 || internetChecksum(p.subarray(20)) !== 0) return undefined;
  return { id: (p[24]! << 8) | p[25]!, seq: (p[26]! << 8) | p[27]! };
}

function isBurstDatagram(p: Uint8Array): boolean {
  return (
    p.length >= 28 &&
    p[0] === 0x45 &&
    p[9] === 17 &&
    STACK.every((b, i) => p[16 + i] === b) &&
    ((p[22]! << 8) | p[23]!) === BURST_PORT
  );
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

function tunFdsOfThisProcess(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === '/dev/net/tun') n++;
    } catch {
      // the fd closed while we looked (readdir's own fd)
    }
  }
  return n;
}

function catchError(fn: () => unknown): TunError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TunError);
    return err as TunError;
  }
  throw new Error('expected an error');
}

/**
 * Runs a short ESM program in a fresh Node (with tsx) and reports how it
 * ended. It is killed (by PID) `graceMs` after it printed "opened", or after
 * 10 s in any case.
 */
function runNode(code: string, graceMs: number): Promise<{ exit: number | null; timedOut: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: PROJECT_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const kill = (): void => {
      timedOut = true;
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    };
    const hardLimit = setTimeout(kill, 10_000);
    let grace: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (grace === undefined && stdout.includes('opened')) grace = setTimeout(kill, graceMs);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (exit) => {
      clearTimeout(hardLimit);
      clearTimeout(grace);
      resolve({ exit, timedOut, stdout, stderr });
    });
  });
}

describe('checkTunPrerequisites', () => {
  const rootStatus = 'Name:\tnode\nCapEff:\t000001ffffffffff\n';
  const fine = { euid: 0, procStatus: rootStatus, tunExists: true, ipPath: '/usr/sbin/ip', addonBuilt: true };

  it('finds nothing wrong on a machine that has everything', () => {
    expect(checkTunPrerequisites(fine)).toEqual([]);
  });

  it('names each missing piece in words', () => {
    const problems = checkTunPrerequisites({
      euid: 1000,
      procStatus: 'CapEff:\t0000000000000000\n',
      tunExists: false,
      ipPath: undefined,
      addonBuilt: false,
    });
    expect(problems).toHaveLength(5);
    expect(problems.join('\n')).toMatch(/CAP_NET_ADMIN/);
    expect(problems.join('\n')).toMatch(/CAP_SYS_ADMIN/);
    expect(problems.join('\n')).toMatch(/\/dev\/net\/tun does not exist/);
    expect(problems.join('\n')).toMatch(/'ip' command is missing/);
    expect(problems.join('\n')).toMatch(/npm install/);
  });

  it('accepts a non-root user that holds CAP_NET_ADMIN and CAP_SYS_ADMIN', () => {
    const caps = ((1n << 12n) | (1n << 21n)).toString(16).padStart(16, '0');
    expect(checkTunPrerequisites({ ...fine, euid: 1000, procStatus: `CapEff:\t${caps}\n` })).toEqual([]);
  });

  it('does not trust euid 0 when the capability is not there (containers)', () => {
    const noNetAdmin = (0x1ffffffffffn & ~(1n << 12n)).toString(16).padStart(16, '0');
    expect(checkTunPrerequisites({ ...fine, procStatus: `CapEff:\t${noNetAdmin}\n` })).toEqual([
      expect.stringMatching(/CAP_NET_ADMIN/),
    ]);
  });

  it.runIf(canRunIntegration())('passes on this machine', () => {
    expect(checkTunPrerequisites()).toEqual([]);
  });
});

/** The sequence numbers of the echo replies with identifier `id` that `dev` reads from now on, in arrival order. */
function collectEchoReplySeqs(dev: TunDevice, id: number): number[] {
  const seqs: number[] = [];
  dev.onPackets((packets) => {
    for (const p of packets) {
      const reply = parseEchoReply(p);
      if (reply?.id === id) seqs.push(reply.seq);
    }
  });
  return seqs;
}

describe.skipIf(!canRunIntegration())('TunDevice over a real TUN device in a namespace', () => {
  let ns: TestNamespace;

  beforeAll(() => {
    // The kernel drops what overflows the device queue (tx_dropped); the
    // burst below must fit in it whole.
    ns = createTestNamespace('tundev', { txqueuelen: 12_000 });
  });

  afterAll(() => {
    ns?.destroy();
  });

  describe('errors say what is wrong', () => {
    it('a name longer than 15 characters: EINVAL', () => {
      const err = catchError(() => TunDevice.open({ name: 'a-much-too-long-name', netns: ns.netns }));
      expect(err.code).toBe('EINVAL');
      expect(err.message).toMatch(/^invalid TUN device name 'a-much-too-long-name': 1 to 15 characters/);
    });

    it('a name the kernel would refuse: EINVAL from the addon', () => {
      const err = catchError(() => TunDevice.open({ name: 'tun/0', netns: ns.netns }));
      expect(err.code).toBe('EINVAL');
      expect(err.message).toMatch(/invalid TUN device name 'tun\/0'/);
    });

    it('a namespace that does not exist: ENOENT and how to create it', () => {
      const missing = `tt-missing-${process.pid}`;
      const err = catchError(() => TunDevice.open({ name: 'tun0', netns: missing }));
      expect(err.code).toBe('ENOENT');
      expect(err.syscall).toBe('open');
      expect(err.message).toBe(`network namespace '${missing}' does not exist (scripts/setup-tun.sh up creates it)`);
    });

    it('a device another handle holds: EBUSY', () => {
      const first = TunDevice.open({ name: 'tun0', netns: ns.netns });
      try {
        const err = catchError(() => TunDevice.open({ name: 'tun0', netns: ns.netns }));
        expect(err.code).toBe('EBUSY');
        expect(err.message).toBe("TUN device 'tun0' is busy: another process has it open");
      } finally {
        first.close();
      }
    });

    it('a name taken by a device that is not a TUN: EINVAL', () => {
      const err = catchError(() => TunDevice.open({ name: 'lo', netns: ns.netns }));
      expect(err.code).toBe('EINVAL');
      expect(err.message).toMatch(/'lo': a network device with that name exists and is not a single-queue TUN device/);
    });

    it('without privileges: the one-line CAP_NET_ADMIN / CAP_SYS_ADMIN messages', async () => {
      // Inside our namespace, so that even a failed attempt touches nothing else.
      const program = `
        import { TunDevice } from './src/tun/tun-device.ts';
        for (const opts of [{ name: 'tunx' }, { name: 'tunx', netns: ${JSON.stringify(ns.netns)} }]) {
          try { TunDevice.open(opts); console.log('opened?!'); }
          catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
        }`;
      const r = await ns.exec(
        // uid 0 without the capabilities (not another user: it might not be able to read the checkout).
        ['setpriv', '--bounding-set', '-net_admin,-sys_admin', process.execPath, '--import', 'tsx', '--input-type=module', '-e', program],
        { timeoutMs: 15_000 },
      );
      expect(r.stderr).toBe('');
      const [tun, netns] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { code: string; message: string });
      expect(['EPERM', 'EACCES']).toContain(tun?.code);
      expect(tun?.message).toBe('opening a TUN device needs CAP_NET_ADMIN (run as root, or grant it)');
      expect(netns?.code).toBe('EPERM');
      expect(netns?.message).toBe(`entering network namespace '${ns.netns}' needs CAP_SYS_ADMIN (run as root)`);
    }, 20_000);
  });

  it('opens the device the script made, in its namespace, with its MTU', () => {
    const dev = TunDevice.open({ name: ns.dev, netns: ns.netns });
    try {
      expect(dev.name).toBe('tun0');
      expect(dev.mtu).toBe(ns.mtu);
      expect(dev.netns).toBe(ns.netns);
    } finally {
      dev.close();
    }
  });

  it('burst: every one of 10,000 datagrams the kernel transmits reaches JavaScript', async () => {
    const dev = TunDevice.open({ name: ns.dev, netns: ns.netns });
    try {
      await ns.waitUntilUp();
      const total = 10_000;
      let burst = 0;
      let all = 0;
      let batches = 0;
      let first = 0;
      let last = 0;
      dev.onPackets((packets) => {
        batches++;
        all += packets.length;
        for (const p of packets) if (isBurstDatagram(p)) burst++;
        if (first === 0) first = performance.now();
        last = performance.now();
      });
      const txBefore = ns.counter('tx_packets');
      const droppedBefore = ns.counter('tx_dropped');
      const readBefore = dev.stats().packetsRead;

      const sender = `
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b'tuntcp-burst-' + b'x' * 19
t = time.perf_counter()
for i in range(${total}):
    s.sendto(payload, ('${ns.stackAddress}', ${BURST_PORT}))
print(time.perf_counter() - t)
`;
      const sending = ns.exec(['python3', '-c', sender], { timeoutMs: 10_000 });
      // Keep the event loop busy while the burst lands, as a busy stack
      // would: the device queue holds it, and we drain it in batches.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
      const r = await sending;
      expect(r.code).toBe(0);
      await waitFor(() => burst >= total, 5_000);

      const txDelta = ns.counter('tx_packets') - txBefore;
      expect(ns.counter('tx_dropped') - droppedBefore).toBe(0);
      expect(burst).toBe(total);
      expect(txDelta).toBe(all);
      expect(dev.stats().packetsRead - readBefore).toBe(all);
      expect(batches).toBeLessThan(all);
      const ms = last - first;
      console.info(
        `burst: ${total} datagrams (python sent them in ${(Number(r.stdout) * 1000).toFixed(1)} ms); ` +
          `JS drained them in ${ms.toFixed(1)} ms, ${batches} batches, ~${Math.round(all / (ms / 1000))} packets/s`,
      );
    } finally {
      dev.close();
    }
  });

  it('a packet given to send() reaches the kernel, which answers through the device', async () => {
    const dev = TunDevice.open({ name: ns.dev, netns: ns.netns });
    try {
      await ns.waitUntilUp();
      const replies: EchoReply[] = [];
      dev.onPackets((packets) => {
        for (const p of packets) {
          const reply = parseEchoReply(p);
          if (reply) replies.push(reply);
        }
      });
      const rxBefore = ns.counter('rx_packets');
      const written = dev.stats().packetsWritten;
      dev.send(echoRequest(0x7475, 1));
      expect(await waitFor(() => replies.length === 1, 3_000)).toBe(true);
      expect(replies).toEqual([{ id: 0x7475, seq: 1 }]);
      expect(ns.counter('rx_packets') - rxBefore).toBe(1);
      expect(dev.stats().packetsWritten - written).toBe(1);
    } finally {
      dev.close();
    }
  });

  it('sendBatch delivers every packet in order', async () => {
    const dev = TunDevice.open({ name: ns.dev, netns: ns.netns });
    try {
      await ns.waitUntilUp();
      const seqs = collectEchoReplySeqs(dev, 0x6261);
      const rxBefore = ns.counter('rx_packets');
      const batch = Array.from({ length: 500 }, (_, i) => echoRequest(0x6261, i));
      dev.sendBatch(batch);
      expect(await waitFor(() => seqs.length === 500, 3_000)).toBe(true);
      expect(seqs).toEqual(batch.map((_, i) => i));
      expect(ns.counter('rx_packets') - rxBefore).toBe(500);
    } finally {
      dev.close();
    }
  });

  it('when writes meet EAGAIN, packets wait in a bounded queue, keep their order, and overflow is counted', async () => {
    const dev = TunDevice.open({ name: ns.dev, netns: ns.netns });
    try {
      await ns.waitUntilUp();
      const seqs = collectEchoReplySeqs(dev, 0x7171);
      const rxBefore = ns.counter('rx_packets');
      // The first write and two flush attempts meet EAGAIN.
      dev.debugBlockWrites(3);
      dev.sendBatch(Array.from({ length: 3_000 }, (_, i) => echoRequest(0x7171, i)));
      expect(dev.stats().queueLength).toBe(3_000);
      // Once something waits, later sends go behind it, up to the bound.
      dev.send(echoRequest(0x7171, 9_999));
      dev.sendBatch(Array.from({ length: 2_000 }, (_, i) => echoRequest(0x7171, 3_000 + i)));
      const queued = dev.stats();
      expect(queued.queueLength).toBe(4_096);
      expect(queued.writeQueued).toBe(4_096);
      expect(queued.writeDropped).toBe(3_001 + 2_000 - 4_096);

      expect(await waitFor(() => seqs.length === 4_096, 5_000)).toBe(true);
      expect(dev.stats().queueLength).toBe(0);
      const expected = [...Array.from({ length: 3_000 }, (_, i) => i), 9_999, ...Array.from({ length: 1_095 }, (_, i) => 3_000 + i)];
      expect(seqs).toEqual(expected);
      expect(ns.counter('rx_packets') - rxBefore).toBe(4_096);
    } finally {
      dev.close();
    }
  });

  it('a device deleted under us is reported once through onError, and later sends are counted, not thrown', async () => {
    // A transient device of our own, so that deleting it leaves the fixture intact.
    const dev = TunDevice.open({ name: 'tundel', netns: ns.netns });
    try {
      const errors: TunError[] = [];
      dev.onError((e) => errors.push(e));
      expect(ns.execSync(['ip', 'link', 'del', 'tundel']).code).toBe(0);
      expect(await waitFor(() => errors.length > 0, 3_000)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(errors).toHaveLength(1);
      expect(errors[0]?.code).toBe('EBADF');
      expect(errors[0]?.message).toBe("reading TUN device 'tundel' failed (EBADF: was the device deleted?); it stopped reading");
      expect(() => dev.send(echoRequest(1, 1))).not.toThrow();
      expect(dev.stats().writeErrors).toBe(1);
      expect(errors).toHaveLength(1);
    } finally {
      dev.close();
    }
  });

  describe('close', () => {
    it('no handler runs after close(), even with packets still pending', async () => {
      const dev = TunDevice.open({ name: ns.dev, netns: ns.netns });
      let calls = 0;
      try {
        await ns.waitUntilUp();
        dev.onPackets(() => {
          calls++;
          dev.close();
        });
        const r = await ns.exec(
          ['python3', '-c', `import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(2000): s.sendto(b'x', ('${ns.stackAddress}', ${BURST_PORT}))`],
          { timeoutMs: 10_000 },
        );
        expect(r.code).toBe(0);
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(calls).toBe(1);
        expect(dev.closed).toBe(true);
        // Sends after close are discarded and counted, not thrown.
        const before = dev.stats().writeDropped;
        expect(() => dev.send(echoRequest(1, 1))).not.toThrow();
        expect(dev.stats().writeDropped).toBe(before + 1);
      } finally {
        dev.close();
      }
    });

    it('releases the fd: reopening works and no /dev/net/tun fd is left behind', () => {
      const baseline = tunFdsOfThisProcess();
      for (let i = 0; i < 20; i++) {
        // An absolute namespace path works as well as a name.
        const dev = TunDevice.open({ name: ns.dev, netns: `/var/run/netns/${ns.netns}` });
        expect(tunFdsOfThisProcess()).toBe(baseline + 1);
        dev.close();
        dev.close(); // idempotent
      }
      expect(tunFdsOfThisProcess()).toBe(baseline);
    });

    it('an open device keeps the process alive; after close() (or unref()) it exits', async () => {
      const program = (body: string): string => `
        import { TunDevice } from './src/tun/tun-device.ts';
        const dev = TunDevice.open({ name: 'tunexit${process.pid % 1000}', netns: ${JSON.stringify(ns.netns)} });
        console.log('opened');
        ${body}`;
      const [closes, unrefs, stays] = await Promise.all([
        runNode(program('setTimeout(() => dev.close(), 50);'), 3_000),
        runNode(program('dev.unref();').replace('tunexit', 'tununref'), 3_000),
        runNode(program('').replace('tunexit', 'tunstay'), 1_000),
      ]);
      expect(closes).toMatchObject({ exit: 0, timedOut: false, stdout: 'opened\n', stderr: '' });
      expect(unrefs).toMatchObject({ exit: 0, timedOut: false, stdout: 'opened\n', stderr: '' });
      expect(stays.stdout).toBe('opened\n');
      expect(stays.timedOut).toBe(true);
    }, 20_000);
  });
});
