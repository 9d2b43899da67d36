import type { CommandModule } from 'yargs';
import type { TcpInfo, TcpState } from '../../tcp/api.ts';
import { chooseInstance, requestSnapshot } from '../control/client.ts';
import type { ListenerSnapshot, Snapshot } from '../control/snapshot.ts';
import { log, UsageError } from '../log.ts';
import { formatDuration } from '../progress.ts';

interface SsOptions {
  netns: string | undefined;
  json: boolean;
  watch: string | undefined;
  count: number | undefined;
  listening: boolean;
}

/** The names `ss` prints for the RFC 9293 states. */
const SS_STATE: Record<TcpState, string> = {
  CLOSED: 'UNCONN',
  LISTEN: 'LISTEN',
  'SYN-SENT': 'SYN-SENT',
  'SYN-RECEIVED': 'SYN-RECV',
  ESTABLISHED: 'ESTAB',
  'FIN-WAIT-1': 'FIN-WAIT-1',
  'FIN-WAIT-2': 'FIN-WAIT-2',
  'CLOSE-WAIT': 'CLOSE-WAIT',
  CLOSING: 'CLOSING',
  'LAST-ACK': 'LAST-ACK',
  'TIME-WAIT': 'TIME-WAIT',
};

const DEFAULT_WATCH_MS = 1000;

function ms(value: number): string {
  if (value === 0) return '0';
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
}

function bytesOrInf(value: number): string {
  return Number.isFinite(value) ? String(value) : 'inf';
}

function listenerLine(l: ListenerSnapshot): string[] {
  // As in `ss -lt`: Recv-Q is the accept queue's occupancy, Send-Q its limit.
  return [
    'LISTEN',
    String(l.acceptQueueLength),
    String(l.acceptQueueLimit),
    `${l.localAddress === '0.0.0.0' ? '*' : l.localAddress}:${l.localPort}`,
    '*:*',
    `${l.service ?? ''}`,
  ];
}

function listenerDetail(l: ListenerSnapshot): string {
  return (
    `syn-queue:${l.synQueueLength}/${l.synQueueLimit} accept-queue:${l.acceptQueueLength}/${l.acceptQueueLimit}` +
    ` syn-queue-overflows:${l.synQueueOverflows} accept-queue-overflows:${l.acceptQueueOverflows}`
  );
}

function connectionLine(c: TcpInfo): string[] {
  // As in `ss -t`: Recv-Q is what the application has not read, Send-Q what the peer has not acknowledged or we have not sent.
  return [
    SS_STATE[c.state],
    String(c.rcvBufUsed),
    String(c.sndBufUsed),
    `${c.localAddress}:${c.localPort}`,
    `${c.remoteAddress}:${c.remotePort}`,
    '',
  ];
}

function connectionDetail(c: TcpInfo): string {
  // Close to `ss -tin`'s order: algorithm and options first, then timers and windows.
  const parts: string[] = [];
  if (c.congestionControl) parts.push(c.congestionControl);
  if (c.windowScaling) parts.push(`wscale:${c.sndWscale},${c.rcvWscale}`);
  if (c.timestamps) parts.push('ts');
  if (c.sackPermitted) parts.push('sack');
  parts.push(
    `rcv_buf:${c.rcvBufUsed}/${c.rcvBufSize}`,
    `rcv_wnd:${c.rcvWnd}`,
    `snd_buf:${c.sndBufUsed}/${c.sndBufSize}`,
    `snd_wnd:${c.sndWnd}`,
    `cwnd:${bytesOrInf(c.cwnd)}`,
    `ssthresh:${bytesOrInf(c.ssthresh)}`,
    `inflight:${c.bytesInFlight}`,
    `mss:${c.mss}`,
    `rtt:${ms(c.srtt)}/${ms(c.rttvar)}`,
    `rto:${ms(c.rto)}`,
    `retrans:${c.retransmits}/${c.totalRetransmits}`,
  );
  if (c.recovery && c.recovery !== 'none') parts.push(`recovery:${c.recovery}`);
  if (c.fastRetransmits) parts.push(`fast_retrans:${c.fastRetransmits}`);
  if (c.rtoTimeouts) parts.push(`rto_timeouts:${c.rtoTimeouts}`);
  if (c.sackedBytes) parts.push(`sacked:${c.sackedBytes}`);
  if (c.lostBytes) parts.push(`lost:${c.lostBytes}`);
  parts.push(`bytes_sent:${c.bytesSent}`, `bytes_received:${c.bytesReceived}`);
  if (c.oooBytes > 0) parts.push(`ooo:${c.oooBytes}`);
  if (c.noDelay) parts.push('nodelay');
  if (c.cork) parts.push('cork');
  return parts.join(' ');
}

/** The snapshot as `ss -tin` would print it, plus the listeners' two queues. */
export function formatSnapshot(s: Snapshot, options: { listeningOnly?: boolean } = {}): string {
  const rows: string[][] = [['State', 'Recv-Q', 'Send-Q', 'Local Address:Port', 'Peer Address:Port', 'Service']];
  const details: (string | null)[] = [null];
  const listeners = [...s.listeners].sort((a, b) => a.localPort - b.localPort);
  for (const l of listeners) {
    rows.push(listenerLine(l));
    details.push(listenerDetail(l));
  }
  const connections = options.listeningOnly ? [] : [...s.connections].sort((a, b) => a.localPort - b.localPort || a.remotePort - b.remotePort);
  const serviceOf = new Map(s.listeners.map((l) => [l.localPort, l.service ?? '']));
  for (const c of connections) {
    const row = connectionLine(c);
    row[5] = serviceOf.get(c.localPort) ?? '';
    rows.push(row);
    details.push(connectionDetail(c));
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines: string[] = [
    `tuntcp serve pid ${s.pid}, namespace ${s.netns}, address ${s.address}, up ${formatDuration(s.uptimeMs / 1000)}: ` +
      `${s.listeners.length} listener(s), ${s.connections.length} connection(s)`,
  ];
  rows.forEach((r, i) => {
    lines.push(r.map((cell, j) => (j === r.length - 1 ? cell : cell.padEnd(widths[j]!))).join('  ').trimEnd());
    const d = details[i];
    if (d) lines.push(`\t ${d}`);
  });
  const t = s.tcp;
  const counter = (name: string): number => t[name] ?? 0;
  lines.push(
    `tcp: passive-opens:${counter('passiveOpens')} active-opens:${counter('activeOpens')} ` +
      `syn-queue-overflows:${counter('synQueueOverflows')} accept-queue-overflows:${counter('acceptQueueOverflows')} ` +
      `syns-dropped-accept-queue-full:${counter('synDroppedAcceptQueueFull')} retransmitted:${counter('retransmittedSegments')} ` +
      `zero-window-probes:${counter('zeroWindowProbes')} resets-sent:${counter('rstsSent')} resets-received:${counter('rstsReceived')}`,
  );
  return lines.join('\n') + '\n';
}

function parseWatch(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value === '') return DEFAULT_WATCH_MS;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 50 || n > 3_600_000) throw new UsageError(`--watch ${value}: an interval in ms from 50 to 3600000`);
  return n;
}

/**
 * `tuntcp ss`: what `ss -tin` shows for the kernel's sockets, for a running
 * `tuntcp serve` — asked over its control socket, never over the network.
 */
export const ssCommand: CommandModule<object, SsOptions> = {
  command: 'ss',
  describe: 'show the listeners (SYN and accept queues) and connections (buffers, windows, RTT) of a running tuntcp serve',
  builder: (y) =>
    y
      .option('netns', { type: 'string', describe: 'which serve to ask, by namespace (default: the only one running)' })
      .option('json', { type: 'boolean', default: false, describe: 'print the snapshot as one line of JSON (listeners, connections, ip and tcp counters)' })
      .option('watch', { type: 'string', describe: 'refresh every [ms] milliseconds (default 1000) until Ctrl-C' })
      .option('count', { type: 'number', describe: 'with --watch: stop after this many snapshots' })
      .option('listening', { alias: 'l', type: 'boolean', default: false, describe: 'only the listeners' })
      .example('$0 ss', 'every listener and connection once')
      .example('$0 ss --watch 200', 'watch a receive buffer fill and the window close')
      .example('$0 ss --json | jq .connections', 'the raw numbers'),
  handler: async (argv) => {
    try {
      const watchMs = parseWatch(argv.watch);
      const count = argv.count;
      if (count !== undefined && (!Number.isInteger(count) || count < 1)) throw new UsageError(`--count ${count}: a positive integer`);
      if (count !== undefined && watchMs === undefined) throw new UsageError('--count goes with --watch');
      const instance = await chooseInstance(argv.netns);
      const tty = process.stdout.isTTY === true && !argv.json;
      const show = (s: Snapshot): void => {
        if (argv.json) {
          process.stdout.write(JSON.stringify(s) + '\n');
          return;
        }
        if (watchMs !== undefined && tty) process.stdout.write('\x1b[H\x1b[2J');
        else if (watchMs !== undefined) process.stdout.write(`--- ${new Date(s.time).toISOString()}\n`);
        process.stdout.write(formatSnapshot(s, { listeningOnly: argv.listening }));
      };
      if (watchMs === undefined) {
        show(await requestSnapshot(instance.socketPath));
        return;
      }
      let stop = false;
      process.on('SIGINT', () => (stop = true));
      for (let shown = 0; !stop && (count === undefined || shown < count); shown++) {
        const started = Date.now();
        let s: Snapshot;
        try {
          s = await requestSnapshot(instance.socketPath);
        } catch {
          throw new Error(`the tuntcp serve in namespace ${instance.netns} has stopped`);
        }
        show(s);
        if (count !== undefined && shown + 1 >= count) break;
        await new Promise((r) => setTimeout(r, Math.max(0, watchMs - (Date.now() - started))));
      }
    } catch (err) {
      log.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    }
  },
};
