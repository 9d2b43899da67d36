/**
 * The tuntcp side of the bench: a stack on a TUN device in a namespace of its
 * own, with the iperf3 server and the request/response service on it.
 *
 *   node --import tsx bench/tuntcp-server.ts --netns NAME [--mtu 1500]
 *        [--iperf3-port 5201] [--rr-ports 7001,7002] [--max-connections N]
 *        [--rcvbuf B] [--sndbuf B] [--offload on|off]
 *
 * It prints one JSON line `{"ready":true,...}` on stdout once it serves, one
 * `{"iperf3":...}` line per finished test, and stops (removing the
 * namespace) on SIGTERM, SIGINT, or when its stdin closes — so a bench that
 * dies cannot leave it running.
 */
import { parseArgs } from 'node:util';
import { startIperf3 } from '../src/services/iperf3.ts';
import { createNet } from '../src/socket/net.ts';
import { openTunStack, type TunStack } from '../src/stack/tun-stack.ts';
import type { TcpConfig } from '../src/tcp/config.ts';
import { serveRr } from './rr-service.ts';

const { values } = parseArgs({
  options: {
    netns: { type: 'string' },
    dev: { type: 'string', default: 'tun0' },
    mtu: { type: 'string', default: '1500' },
    txqueuelen: { type: 'string', default: '1000' },
    'iperf3-port': { type: 'string', default: '5201' },
    'rr-ports': { type: 'string', default: '7001' },
    'max-connections': { type: 'string', default: '70000' },
    rcvbuf: { type: 'string' },
    sndbuf: { type: 'string' },
    // Segmentation and checksum offload through IFF_VNET_HDR (the default, as for `tuntcp serve`).
    offload: { type: 'string', default: 'on' },
  },
});

function int(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) fail(`--${name} ${String(text)}: expected a non-negative integer`);
  return n;
}

let openStack: TunStack | undefined;
function fail(message: string): never {
  process.stderr.write(`tuntcp-server: ${message}\n`);
  // Whatever failed, the namespace and device go with us.
  openStack?.closeNow();
  process.exit(1);
}

if (values.netns === undefined) fail('--netns NAME is required');
if (values.offload !== 'on' && values.offload !== 'off') fail(`--offload ${String(values.offload)}: expected on or off`);
const netns = values.netns;
// "0" (or nothing) means no request/response service.
const rrPorts = (values['rr-ports'] ?? '')
  .split(',')
  .filter((p) => p !== '')
  .map((p) => int('rr-ports', p))
  .filter((p) => p > 0);
const tcp: Partial<TcpConfig> = {
  maxConnections: int('max-connections', values['max-connections']),
  // Idle-connection runs open thousands at once: queues deep enough that the
  // count measures memory, not SYN drops.
  backlog: 4096,
  synBacklog: 4096,
};
if (values.rcvbuf !== undefined) tcp.rcvBuf = int('rcvbuf', values.rcvbuf);
if (values.sndbuf !== undefined) tcp.sndBuf = int('sndbuf', values.sndbuf);

let stack: TunStack;
try {
  stack = await openTunStack({
    netns,
    dev: values.dev ?? 'tun0',
    address: '10.0.0.2',
    kernelAddress: '10.0.0.1/24',
    mtu: int('mtu', values.mtu),
    txqueuelen: int('txqueuelen', values.txqueuelen),
    offload: values.offload === 'on',
    tcp,
  });
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
openStack = stack;

let stopping = false;
const stop = (code: number): void => {
  if (stopping) return;
  stopping = true;
  // The counters say how many packets crossed the device per batch and per
  // byte: the evidence beside a profile.
  const tcpStats = stack.tcp.stats;
  const stats = {
    tun: stack.device.stats(),
    ip: { packetsIn: stack.stack.stats.ipPacketsIn, packetsOut: stack.stack.stats.ipPacketsOut },
    tcp: {
      segmentsIn: tcpStats.segmentsIn,
      segmentsOut: tcpStats.segmentsOut,
      superPacketsIn: tcpStats.superPacketsIn,
      superPacketsOut: tcpStats.superPacketsOut,
      retransmittedSegments: tcpStats.retransmittedSegments,
      delayedAcks: tcpStats.delayedAcks,
      rtoTimeouts: tcpStats.rtoTimeouts,
      fastRetransmits: tcpStats.fastRetransmits,
      sackRecoveries: tcpStats.sackRecoveries,
    },
  };
  process.stdout.write(JSON.stringify({ stats }) + '\n');
  // close() removes the namespace; process.exit lets --cpu-prof write its profile.
  stack.close().then(
    () => process.exit(code),
    () => process.exit(code === 0 ? 1 : code),
  );
};
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
process.on('uncaughtException', (err) => {
  process.stderr.write(`tuntcp-server: ${err.stack ?? String(err)}\n`);
  stack.closeNow();
  process.exit(1);
});
process.stdin.on('end', () => stop(0));
process.stdin.on('error', () => stop(0));
process.stdin.resume();

const net = createNet(stack.driver);
const iperf3Port = int('iperf3-port', values['iperf3-port']);
if (iperf3Port > 0) {
  startIperf3(net, iperf3Port, {
    onTest: (r) => {
      const line = { iperf3: { reverse: r.reverse, parallel: r.parallel, bytesReceived: r.bytesReceived, bytesSent: r.bytesSent, error: r.error } };
      process.stdout.write(JSON.stringify(line) + '\n');
    },
  }).server.on('error', (err: unknown) => fail(`iperf3: ${String(err)}`));
}
for (const port of rrPorts) {
  net
    .createServer({ noDelay: true, backlog: 4096, synBacklog: 4096 }, serveRr)
    .on('error', (err: unknown) => fail(`rr on port ${port}: ${String(err)}`))
    .listen(port);
}
process.stdout.write(
  JSON.stringify({ ready: true, pid: process.pid, address: '10.0.0.2', mtu: stack.device.mtu, offload: stack.device.offloadMaxSize > 0 }) + '\n',
);
