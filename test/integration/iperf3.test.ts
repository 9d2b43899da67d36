/**
 * The iperf3 server on tuntcp against the stock iperf3 client (Debian's 3.x)
 * through a real TUN: forward, reverse (-R), parallel streams (-P 4), and a
 * second client turned away while a test runs. The client's JSON summary must
 * carry exactly the byte counts our server counted (they travel to it in the
 * results exchange), which proves the whole control protocol ran.
 *
 * The stack runs on this event loop, so every client is an asynchronous child.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIperf3, type Iperf3Service, type Iperf3TestResult } from '../../src/services/iperf3.ts';
import { createNet } from '../../src/socket/net.ts';
import { openTunStack, type TunStack } from '../../src/stack/tun-stack.ts';
import { findExecutable } from '../../src/tun/prerequisites.ts';
import { netnsExists, removeNetns, uniqueNetnsName } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';
import { killAllPeers, runInNetns, sleep, startInNetns, waitFor } from '../helpers/peers.ts';

const STACK = '10.0.0.2';
const PORT = 5201;

interface Iperf3Json {
  error?: string;
  end?: {
    streams?: unknown[];
    sum_sent?: { bytes: number };
    sum_received?: { bytes: number };
  };
}

const haveIperf3 = findExecutable('iperf3') !== undefined;

describe.skipIf(!canRunIntegration() || !haveIperf3)('iperf3 (the real client) against tuntcp\'s iperf3 server', () => {
  const netns = uniqueNetnsName('iperf3');
  let stack: TunStack | undefined;
  let service: Iperf3Service;
  const finished: Iperf3TestResult[] = [];

  beforeAll(async () => {
    stack = await openTunStack({ netns, dev: 'tun0', address: STACK, kernelAddress: '10.0.0.1/24', mtu: 1500, txqueuelen: 1000 });
    service = startIperf3(createNet(stack.driver), PORT, { onTest: (r) => finished.push(r) });
  });

  afterAll(async () => {
    await killAllPeers();
    await stack?.close();
    removeNetns(netns);
    expect(netnsExists(netns)).toBe(false);
  });

  /** Runs the client, waits for our side of the test to be recorded too. */
  async function iperf3(args: string[]): Promise<{ json: Iperf3Json; ours: Iperf3TestResult }> {
    const before = finished.length;
    const r = await runInNetns(netns, ['iperf3', '-c', STACK, '-p', String(PORT), '-J', ...args], { timeoutMs: 20_000 });
    expect(r.timedOut, 'iperf3 timed out').toBe(false);
    const json = JSON.parse(r.stdout) as Iperf3Json;
    expect(json.error, r.stderr).toBeUndefined();
    expect(r.code, r.stderr).toBe(0);
    // The client exits on DISPLAY_RESULTS; our record follows its IPERF_DONE.
    expect(await waitFor(() => finished.length > before, 5_000)).toBe(true);
    const ours = finished[finished.length - 1]!;
    expect(ours.error).toBeNull();
    return { json, ours };
  }

  it('forward (-t 1): the client sends, the receiver line is our count', async () => {
    const { json, ours } = await iperf3(['-t', '1']);
    expect(ours.reverse).toBe(false);
    expect(ours.bytesReceived).toBeGreaterThan(0);
    expect(json.end?.sum_received?.bytes).toBe(ours.bytesReceived);
    // What we counted cannot exceed what the client says it wrote.
    expect(json.end?.sum_sent?.bytes).toBeGreaterThanOrEqual(ours.bytesReceived);
  });

  it('reverse (-R -t 1): we send, the sender line is our count', async () => {
    const { json, ours } = await iperf3(['-R', '-t', '1']);
    expect(ours.reverse).toBe(true);
    expect(ours.bytesSent).toBeGreaterThan(0);
    expect(json.end?.sum_sent?.bytes).toBe(ours.bytesSent);
    expect(json.end?.sum_received?.bytes).toBeGreaterThan(0);
    expect(json.end?.sum_received?.bytes).toBeLessThanOrEqual(ours.bytesSent);
  });

  it('parallel (-P 4 -t 1): four streams, their sum is our count', async () => {
    const { json, ours } = await iperf3(['-P', '4', '-t', '1']);
    expect(ours.streams.map((s) => s.id)).toEqual([1, 3, 4, 5]);
    expect(ours.streams.every((s) => s.bytes > 0)).toBe(true);
    expect(json.end?.streams).toHaveLength(4);
    expect(json.end?.sum_received?.bytes).toBe(ours.bytesReceived);
  });

  it('a second client during a test is told the server is busy; the first completes', async () => {
    const first = startInNetns(netns, ['iperf3', '-c', STACK, '-p', String(PORT), '-J', '-t', '2'], { timeoutMs: 20_000 });
    expect(await waitFor(() => service.busy, 5_000)).toBe(true);
    await sleep(300);
    // Without -J: iperf3 3.12 exits 0 on a JSON-reported error, 1 otherwise.
    const second = await runInNetns(netns, ['iperf3', '-c', STACK, '-p', String(PORT), '-t', '1'], { timeoutMs: 10_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/server is busy/);
    const r = await first.done;
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as Iperf3Json).end?.sum_received?.bytes).toBeGreaterThan(0);
  });
});
