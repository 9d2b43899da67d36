// Two complete stacks over the in-memory link, in virtual time, through the
// seeded impairment layer (loss, reordering, duplication): bulk transfers
// each way must arrive byte-exact with NewReno and with CUBIC, and loss
// must be repaired mostly by fast retransmit / SACK recovery, not timeouts.
//
// TUNTCP_LOSS_NET_MB sets the size per direction (default 20).
import { describe, expect, it } from 'vitest';
import type { Socket } from '../../src/socket/socket.ts';
import type { CongestionControlName } from '../../src/tcp/api.ts';
import { VirtualNet } from '../helpers/virtual-net.ts';
import { pattern, sha256 as sha } from '../helpers/data.ts';

const MB = Number(process.env['TUNTCP_LOSS_NET_MB'] ?? 20);
const SIZE = Math.round(MB * 1024 * 1024);

const UP = pattern(SIZE, 1);
const DOWN = pattern(SIZE, 2);
const UP_SHA = sha(UP);
const DOWN_SHA = sha(DOWN);

interface Run {
  virtualMs: number;
  wallMs: number;
  up: string;
  down: string;
  fast: number;
  sack: number;
  rto: number;
  rtxBytes: number;
  lost: number;
}

/** Both directions at once: the client sends UP and reads DOWN, the server the reverse. */
async function transfer(cc: CongestionControlName, impair: string, sack = true): Promise<Run> {
  const started = Date.now();
  // 5 ms each way on the wire; the impairment applies at A in both
  // directions, so every packet crosses one impaired hop.
  const tcp = { congestionControl: cc, sack: sack ? 1 : 0 };
  const vnet = new VirtualNet({ latencyMs: 5, impairA: impair, tcpA: tcp, tcpB: tcp });
  const serverGot: Buffer[] = [];
  let serverEnded = false;
  vnet.b.net
    .createServer({ allowHalfOpen: true }, (s: Socket) => {
      s.on('data', (d: Buffer) => serverGot.push(d));
      s.on('end', () => (serverEnded = true));
      s.end(DOWN);
    })
    .listen(5001);
  const client = vnet.a.net.connect({ host: '10.0.0.2', port: 5001 });
  const clientGot: Buffer[] = [];
  let clientEnded = false;
  client.on('data', (d: Buffer) => clientGot.push(d));
  client.on('end', () => (clientEnded = true));
  client.end(UP);
  await vnet.until(() => clientEnded && serverEnded, 3_600_000);
  const a = vnet.a.tcp.stats;
  const b = vnet.b.tcp.stats;
  const impairStats = vnet.impairA!.stats;
  return {
    virtualMs: vnet.now(),
    wallMs: Date.now() - started,
    up: sha(Buffer.concat(serverGot)),
    down: sha(Buffer.concat(clientGot)),
    fast: a.fastRetransmits + b.fastRetransmits,
    sack: a.sackRecoveries + b.sackRecoveries,
    rto: a.rtoTimeouts + b.rtoTimeouts,
    rtxBytes: a.retransmittedBytes + b.retransmittedBytes,
    lost: impairStats.in.lost + impairStats.out.lost,
  };
}

const CASES: { name: string; impair: string; maxVirtualS: number; sack?: boolean }[] = [
  { name: '1% loss', impair: 'loss=1%,seed=11', maxVirtualS: 120 },
  { name: '5% loss', impair: 'loss=5%,seed=12', maxVirtualS: 600 },
  { name: '10% loss', impair: 'loss=10%,seed=13', maxVirtualS: 1800 },
  { name: '2% loss, 5% reordered, 1% duplicated', impair: 'loss=2%,reorder=5%,dup=1%,seed=14', maxVirtualS: 300 },
  { name: '3% loss, SACK off (RFC 6582 recovery)', impair: 'loss=3%,seed=15', maxVirtualS: 300, sack: false },
];

describe(`${MB} MB each way between two stacks through loss, reordering and duplication`, () => {
  for (const cc of ['newreno', 'cubic'] as const) {
    for (const c of CASES) {
      it(`${cc}, ${c.name}: byte-exact, repaired mostly without timeouts`, async () => {
        const r = await transfer(cc, c.impair, c.sack ?? true);
        console.log(
          `[loss-net] ${cc.padEnd(7)} ${c.name.padEnd(36)} virtual ${(r.virtualMs / 1000).toFixed(1)} s, wall ${(r.wallMs / 1000).toFixed(1)} s, ` +
            `lost ${r.lost} packets, fast retransmits ${r.fast} (SACK ${r.sack}), RTOs ${r.rto}, retransmitted ${(r.rtxBytes / 1e6).toFixed(2)} MB, ` +
            `goodput ${((2 * SIZE * 8) / r.virtualMs / 1000).toFixed(1)} Mbit/s`,
        );
        expect(r.up).toBe(UP_SHA);
        expect(r.down).toBe(DOWN_SHA);
        expect(r.virtualMs).toBeLessThan(c.maxVirtualS * 1000);
        expect(r.fast).toBeGreaterThan(0);
        // Both ends are ours: SACK is negotiated and drives recovery, unless
        // switched off, when NewReno's partial ACKs do.
        if (c.sack === false) expect(r.sack).toBe(0);
        else expect(r.sack).toBeGreaterThan(0);
        expect(r.fast).toBeGreaterThan(r.rto);
      }, 300_000);
    }
  }
});
