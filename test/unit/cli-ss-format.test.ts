import { describe, expect, it } from 'vitest';
import { formatSnapshot } from '../../src/cli/commands/ss.ts';
import type { Snapshot } from '../../src/cli/control/snapshot.ts';
import { createIpStats } from '../../src/stack/stats.ts';
import { TcpStats } from '../../src/tcp/stats.ts';
import type { TcpInfo } from '../../src/tcp/api.ts';

function info(over: Partial<TcpInfo>): TcpInfo {
  return {
    state: 'ESTABLISHED', localAddress: '10.0.0.2', localPort: 80, remoteAddress: '10.0.0.1', remotePort: 40000,
    iss: 1, sndUna: 1, sndNxt: 1, sndWnd: 64240, irs: 1, rcvNxt: 1, rcvWnd: 65535, mss: 1460, rcvMss: 1460,
    rto: 200, srtt: 0.42, rttvar: 0.21, retransmits: 0, totalRetransmits: 0, cwnd: 14600, ssthresh: Infinity,
    bytesInFlight: 0, sndBufUsed: 0, sndBufSize: 65536, rcvBufUsed: 0, rcvBufSize: 65536, oooBytes: 0,
    bytesReceived: 0, bytesSent: 0, noDelay: false, cork: false,
    congestionControl: 'cubic', recovery: 'none', fastRetransmits: 0, sackRecoveries: 0, rtoTimeouts: 0,
    retransmittedBytes: 0, sackedBytes: 0, lostBytes: 0,
    windowScaling: true, sndWscale: 7, rcvWscale: 2, timestamps: true, tsRecent: 0, sackPermitted: true, dataOptionsLength: 12,
    ...over,
  };
}

function snapshot(connections: TcpInfo[]): Snapshot {
  const tcp: Record<string, number> = { ...new TcpStats() };
  tcp['synDroppedAcceptQueueFull'] = 7;
  return {
    version: 1, pid: 4242, netns: 'tuntcp', address: '10.0.0.2', time: 0, uptimeMs: 65_000,
    ip: createIpStats(), tcp,
    listeners: [
      { service: 'http', localAddress: '0.0.0.0', localPort: 80, synQueueLength: 1, synQueueLimit: 256, acceptQueueLength: 4, acceptQueueLimit: 4, acceptQueueOverflows: 2, synQueueOverflows: 0 },
      { service: 'echo', localAddress: '0.0.0.0', localPort: 7, synQueueLength: 0, synQueueLimit: 256, acceptQueueLength: 0, acceptQueueLimit: 128, acceptQueueOverflows: 0, synQueueOverflows: 0 },
    ],
    connections,
  };
}

describe('tuntcp ss output', () => {
  it('prints listeners with both queues and connections with buffers, windows and timers, like ss -tin', () => {
    const out = formatSnapshot(
      snapshot([
        info({ remotePort: 40002, state: 'SYN-RECEIVED', congestionControl: 'newreno', windowScaling: false, timestamps: false, sackPermitted: false }),
        info({ remotePort: 40001, rcvBufUsed: 65536, rcvWnd: 0, sndBufUsed: 1200, srtt: 12.345, totalRetransmits: 3, retransmits: 1, noDelay: true, recovery: 'sack', fastRetransmits: 2 }),
      ]),
    );
    expect(out).toBe(
      [
        'tuntcp serve pid 4242, namespace tuntcp, address 10.0.0.2, up 1m05s: 2 listener(s), 2 connection(s)',
        'State     Recv-Q  Send-Q  Local Address:Port  Peer Address:Port  Service',
        'LISTEN    0       128     *:7                 *:*                echo',
        '\t syn-queue:0/256 accept-queue:0/128 syn-queue-overflows:0 accept-queue-overflows:0',
        'LISTEN    4       4       *:80                *:*                http',
        '\t syn-queue:1/256 accept-queue:4/4 syn-queue-overflows:0 accept-queue-overflows:2',
        'ESTAB     65536   1200    10.0.0.2:80         10.0.0.1:40001     http',
        '\t cubic wscale:7,2 ts sack rcv_buf:65536/65536 rcv_wnd:0 snd_buf:1200/65536 snd_wnd:64240 cwnd:14600 ssthresh:inf inflight:0 mss:1460 rtt:12.3/0.21 rto:200 retrans:1/3 recovery:sack fast_retrans:2 bytes_sent:0 bytes_received:0 nodelay',
        'SYN-RECV  0       0       10.0.0.2:80         10.0.0.1:40002     http',
        '\t newreno rcv_buf:0/65536 rcv_wnd:65535 snd_buf:0/65536 snd_wnd:64240 cwnd:14600 ssthresh:inf inflight:0 mss:1460 rtt:0.42/0.21 rto:200 retrans:0/0 bytes_sent:0 bytes_received:0',
        'tcp: passive-opens:0 active-opens:0 syn-queue-overflows:0 accept-queue-overflows:0 syns-dropped-accept-queue-full:7 retransmitted:0 zero-window-probes:0 resets-sent:0 resets-received:0',
        '',
      ].join('\n'),
    );
  });

  it('-l shows only the listeners', () => {
    const out = formatSnapshot(snapshot([info({})]), { listeningOnly: true });
    expect(out).not.toContain('ESTAB');
    expect(out).toContain('LISTEN');
  });
});
