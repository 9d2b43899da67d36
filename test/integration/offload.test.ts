/**
 * Segmentation and checksum offload over a real TUN (IFF_VNET_HDR +
 * TUN_F_CSUM | TUN_F_TSO4), against the kernel's TCP driven by curl: the
 * kernel hands us its super-packets and cuts ours, transfers stay
 * byte-exact, and the capture still shows what a 1500-byte wire carries —
 * segments no larger than the MTU with correct checksums, as tshark checks
 * them. The same run without offload is the control.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startHttp } from '../../src/services/http.ts';
import { patternSha256 } from '../../src/services/pattern.ts';
import { createNet } from '../../src/socket/net.ts';
import { openTunStack, type TunStack } from '../../src/stack/tun-stack.ts';
import { netnsExists, removeNetns, uniqueNetnsName } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';
import { killAllPeers, makeRandomFile, runInNetns, tsharkFields } from '../helpers/peers.ts';

const STACK = '10.0.0.2';
const SIZE = 20 * 1024 * 1024;

describe.skipIf(!canRunIntegration())('offload over a real TUN: curl against tuntcp with and without IFF_VNET_HDR', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-offload-'));
  const stacks: TunStack[] = [];
  const namespaces: string[] = [];

  afterAll(async () => {
    await killAllPeers();
    for (const s of stacks) await s.close();
    for (const n of namespaces) removeNetns(n);
    rmSync(dir, { recursive: true, force: true });
    for (const n of namespaces) expect(netnsExists(n)).toBe(false);
  });

  for (const offload of [true, false]) {
    it(`${offload ? 'with' : 'without'} offload: 20 MB down and up byte-exact; the capture shows MTU-sized segments with good checksums`, async () => {
      const netns = uniqueNetnsName(offload ? 'tso' : 'notso');
      namespaces.push(netns);
      const pcap = path.join(dir, `${netns}.pcap`);
      const stack = await openTunStack({
        netns,
        dev: 'tun0',
        address: STACK,
        kernelAddress: '10.0.0.1/24',
        mtu: 1500,
        txqueuelen: 1000,
        offload,
        pcap,
      });
      stacks.push(stack);
      expect(stack.device.offloadMaxSize).toBe(offload ? 65535 : 0);
      startHttp(createNet(stack.driver), { port: 80, stats: () => stack.tcp.stats });

      const down = await runInNetns(
        netns,
        ['sh', '-c', `curl -sS --max-time 20 http://${STACK}/bytes/${SIZE} | sha256sum`],
        { timeoutMs: 30_000 },
      );
      expect(down.code, down.stderr).toBe(0);
      expect(down.stdout.trim()).toBe(`${patternSha256(SIZE)}  -`);

      const upload = path.join(dir, `${netns}-up.bin`);
      const upHash = await makeRandomFile(upload, SIZE);
      const up = await runInNetns(
        netns,
        ['curl', '-sS', '--max-time', '20', '--data-binary', `@${upload}`, `http://${STACK}/sha256`],
        { timeoutMs: 30_000 },
      );
      expect(up.code, up.stderr).toBe(0);
      expect(up.stdout.trim()).toBe(`${upHash}  ${SIZE}`);

      const tcp = stack.tcp.stats;
      if (offload) {
        // The kernel's TCP wrote super-packets (TSO toward us) and took ours.
        expect(tcp.superPacketsIn).toBeGreaterThan(50);
        expect(tcp.superPacketsOut).toBeGreaterThan(50);
      } else {
        expect(tcp.superPacketsIn).toBe(0);
        expect(tcp.superPacketsOut).toBe(0);
      }
      expect(tcp.badChecksum).toBe(0);
      expect(stack.device.stats().writeErrors).toBe(0);

      await stack.close();
      // What the wire carried: every frame within the MTU, every checksum right.
      const rows = await tsharkFields(pcap, 'tcp', ['frame.len']);
      expect(rows.length).toBeGreaterThan((2 * SIZE) / 1500);
      expect(rows.reduce((m, r) => Math.max(m, Number(r[0])), 0)).toBeLessThanOrEqual(1500);
      // tshark checks checksums only when asked to. Every packet we sent is
      // right; so is every packet of the kernel's, except that when the
      // kernel finishes a checksum that comes out 0 it writes 0xffff, the
      // other ones'-complement zero (skb_checksum_help's CSUM_MANGLED_0,
      // valid by RFC 1624), which tshark reports as a bad checksum.
      const verify = ['tcp.check_checksum:TRUE', 'ip.check_checksum:TRUE'];
      const good = await tsharkFields(pcap, 'tcp.checksum.status == "Good" && ip.checksum.status == "Good"', ['frame.number'], verify);
      const ours = await tsharkFields(pcap, `tcp && ip.src == ${STACK}`, ['frame.number']);
      const oursGood = await tsharkFields(pcap, `ip.src == ${STACK} && tcp.checksum.status == "Good" && ip.checksum.status == "Good"`, ['frame.number'], verify);
      expect(oursGood.length).toBe(ours.length);
      const kernelZero = await tsharkFields(pcap, `ip.src != ${STACK} && tcp.checksum == 0xffff && ip.checksum.status == "Good"`, ['frame.number'], verify);
      expect(good.length + kernelZero.length).toBe(rows.length);
    }, 90_000);
  }
});
