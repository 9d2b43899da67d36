/**
 * The iperf3 server's control protocol, byte by byte, in virtual time: a
 * scripted client on one stack speaks to startIperf3 on the other. The real
 * iperf3 client is exercised in test/integration/iperf3.test.ts; here are the
 * exact bytes and the paths a well-behaved client rarely takes (busy server,
 * wrong cookie, UDP, a client that vanishes).
 */
import { describe, expect, it } from 'vitest';
import { IPERF3_STATE, startIperf3, type Iperf3TestResult } from '../../src/services/iperf3.ts';
import type { Socket } from '../../src/socket/socket.ts';
import { VirtualNet } from '../helpers/virtual-net.ts';

const PORT = 5201;
const COOKIE = 'abcdefghijklmnopqrstuvwxyz0123456789';

function cookieBytes(text = COOKIE): Buffer {
  const b = Buffer.alloc(37);
  b.write(text, 'latin1');
  return b;
}

function json(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

/** A client-side connection whose received bytes are read off in order. */
class Peer {
  private buf = Buffer.alloc(0);
  closed = false;
  received = 0;

  constructor(
    readonly vnet: VirtualNet,
    readonly socket: Socket,
  ) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.received += d.length;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }

  static open(vnet: VirtualNet): Peer {
    return new Peer(vnet, vnet.a.net.connect({ host: '10.0.0.2', port: PORT }));
  }

  async take(n: number): Promise<Buffer> {
    await this.vnet.until(() => this.buf.length >= n || this.closed, 10_000);
    if (this.buf.length < n) throw new Error(`connection closed after ${this.buf.length} of ${n} bytes`);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  async state(): Promise<number> {
    return (await this.take(1)).readInt8(0);
  }

  async json(): Promise<Record<string, unknown>> {
    const n = (await this.take(4)).readUInt32BE(0);
    return JSON.parse((await this.take(n)).toString()) as Record<string, unknown>;
  }

  discard(): void {
    this.buf = Buffer.alloc(0);
  }
}

function setup(): { vnet: VirtualNet; tests: Iperf3TestResult[]; busy: () => boolean } {
  const vnet = new VirtualNet();
  const tests: Iperf3TestResult[] = [];
  const service = startIperf3(vnet.b.net, PORT, { onTest: (r) => tests.push(r) });
  return { vnet, tests, busy: () => service.busy };
}

/** Cookie, parameters, streams: up to TEST_RUNNING. */
async function handshake(vnet: VirtualNet, params: Record<string, unknown>, streams: number): Promise<{ ctrl: Peer; streams: Peer[] }> {
  const ctrl = Peer.open(vnet);
  ctrl.socket.write(cookieBytes());
  expect(await ctrl.state()).toBe(IPERF3_STATE.PARAM_EXCHANGE);
  ctrl.socket.write(json({ tcp: true, omit: 0, time: 1, len: 1000, client_version: '3.12', ...params }));
  expect(await ctrl.state()).toBe(IPERF3_STATE.CREATE_STREAMS);
  const peers: Peer[] = [];
  for (let i = 0; i < streams; i++) {
    const p = Peer.open(vnet);
    p.socket.write(cookieBytes());
    peers.push(p);
  }
  expect(await ctrl.state()).toBe(IPERF3_STATE.TEST_START);
  expect(await ctrl.state()).toBe(IPERF3_STATE.TEST_RUNNING);
  return { ctrl, streams: peers };
}

/** TEST_END, the results exchange, DISPLAY_RESULTS, IPERF_DONE. */
async function finish(vnet: VirtualNet, ctrl: Peer): Promise<Record<string, unknown>> {
  ctrl.socket.write(Buffer.from([IPERF3_STATE.TEST_END]));
  expect(await ctrl.state()).toBe(IPERF3_STATE.EXCHANGE_RESULTS);
  ctrl.socket.write(json({ cpu_util_total: 1, cpu_util_user: 1, cpu_util_system: 0, sender_has_retransmits: 0, streams: [] }));
  const results = await ctrl.json();
  expect(await ctrl.state()).toBe(IPERF3_STATE.DISPLAY_RESULTS);
  ctrl.socket.write(Buffer.from([IPERF3_STATE.IPERF_DONE]));
  await vnet.until(() => ctrl.closed, 10_000);
  return results;
}

describe('iperf3 server protocol (virtual time)', () => {
  it('forward, two streams: counts what arrived and reports it under ids 1 and 3', async () => {
    const { vnet, tests, busy } = setup();
    const { ctrl, streams } = await handshake(vnet, { parallel: 2 }, 2);
    streams[0]!.socket.write(Buffer.alloc(30_000, 1));
    streams[1]!.socket.write(Buffer.alloc(50_000, 2));
    await vnet.run(100);
    const results = await finish(vnet, ctrl);
    expect(results['sender_has_retransmits']).toBe(-1);
    const rs = results['streams'] as { id: number; bytes: number; retransmits: number }[];
    expect(rs.map((s) => s.id)).toEqual([1, 3]);
    expect(rs.map((s) => s.bytes)).toEqual([30_000, 50_000]);
    expect(rs.every((s) => s.retransmits === -1)).toBe(true);
    expect(tests).toHaveLength(1);
    expect(tests[0]).toMatchObject({ error: null, reverse: false, parallel: 2, bytesReceived: 80_000, bytesSent: 0 });
    expect(busy()).toBe(false);
    // The streams close with FIN once the test is over.
    await vnet.until(() => streams.every((s) => s.closed), 10_000);
  });

  it('reverse with -n: sends exactly the requested bytes and reports them as sent', async () => {
    const { vnet, tests } = setup();
    const { ctrl, streams } = await handshake(vnet, { reverse: true, num: 25_000, len: 5_000 }, 1);
    await vnet.until(() => streams[0]!.received >= 25_000, 10_000);
    await vnet.run(100);
    expect(streams[0]!.received).toBe(25_000);
    const results = await finish(vnet, ctrl);
    expect(results['sender_has_retransmits']).toBe(1);
    expect((results['streams'] as { bytes: number }[])[0]!.bytes).toBe(25_000);
    expect(tests[0]).toMatchObject({ error: null, reverse: true, bytesSent: 25_000 });
  });

  it('a second client while a test runs gets ACCESS_DENIED and is closed', async () => {
    const { vnet } = setup();
    const { ctrl } = await handshake(vnet, {}, 1);
    const other = Peer.open(vnet);
    other.socket.write(cookieBytes('zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz'));
    expect(await other.state()).toBe(IPERF3_STATE.ACCESS_DENIED);
    await vnet.until(() => other.closed, 10_000);
    await finish(vnet, ctrl);
  });

  it('a new client right after DISPLAY_RESULTS, before the last one said IPERF_DONE, starts its test', async () => {
    const { vnet, tests } = setup();
    const first = await handshake(vnet, {}, 1);
    first.ctrl.socket.write(Buffer.from([IPERF3_STATE.TEST_END]));
    expect(await first.ctrl.state()).toBe(IPERF3_STATE.EXCHANGE_RESULTS);
    first.ctrl.socket.write(json({ cpu_util_total: 1, cpu_util_user: 1, cpu_util_system: 0, sender_has_retransmits: 0, streams: [] }));
    await first.ctrl.json();
    expect(await first.ctrl.state()).toBe(IPERF3_STATE.DISPLAY_RESULTS);
    // No IPERF_DONE yet: the next client connects.
    const second = await handshake(vnet, {}, 1);
    expect(tests).toHaveLength(1);
    expect(tests[0]!.error).toBeNull();
    await finish(vnet, second.ctrl);
    expect(tests).toHaveLength(2);
    expect(tests[1]!.error).toBeNull();
  });

  it('a stream with the wrong cookie is refused; the right ones still start the test', async () => {
    const { vnet } = setup();
    const ctrl = Peer.open(vnet);
    ctrl.socket.write(cookieBytes());
    expect(await ctrl.state()).toBe(IPERF3_STATE.PARAM_EXCHANGE);
    ctrl.socket.write(json({ tcp: true, time: 1, parallel: 1 }));
    expect(await ctrl.state()).toBe(IPERF3_STATE.CREATE_STREAMS);
    const intruder = Peer.open(vnet);
    intruder.socket.write(cookieBytes('not-the-cookie-not-the-cookie-000000'));
    expect(await intruder.state()).toBe(IPERF3_STATE.ACCESS_DENIED);
    const stream = Peer.open(vnet);
    stream.socket.write(cookieBytes());
    expect(await ctrl.state()).toBe(IPERF3_STATE.TEST_START);
    expect(await ctrl.state()).toBe(IPERF3_STATE.TEST_RUNNING);
    await finish(vnet, ctrl);
  });

  it('UDP is refused with SERVER_ERROR carrying iperf3\'s "not implemented" code', async () => {
    const { vnet, tests } = setup();
    const ctrl = Peer.open(vnet);
    ctrl.socket.write(cookieBytes());
    expect(await ctrl.state()).toBe(IPERF3_STATE.PARAM_EXCHANGE);
    ctrl.socket.write(json({ udp: true, time: 1, parallel: 1 }));
    expect(await ctrl.state()).toBe(IPERF3_STATE.SERVER_ERROR);
    const codes = await ctrl.take(8);
    expect(codes.readInt32BE(0)).toBe(13); // IEUNIMP
    await vnet.until(() => ctrl.closed, 10_000);
    expect(tests[0]?.error).toMatch(/i_errno 13/);
  });

  it('a client that vanishes mid-test frees the server and its streams', async () => {
    const { vnet, tests, busy } = setup();
    const { ctrl, streams } = await handshake(vnet, {}, 1);
    ctrl.socket.destroy();
    await vnet.until(() => tests.length === 1 && streams[0]!.closed, 10_000);
    expect(tests[0]?.error).toMatch(/closed the control connection/);
    expect(busy()).toBe(false);
    // And the next client is served.
    const next = await handshake(vnet, {}, 1);
    await finish(vnet, next.ctrl);
    expect(tests[1]?.error).toBeNull();
  });
});
