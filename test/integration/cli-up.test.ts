import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canRunIntegration } from '../helpers/netns.ts';
import { netnsExists, removeNetns, runCli, startCli, uniqueNetnsName, type CliProcess } from '../helpers/cli.ts';

describe.skipIf(!canRunIntegration())('tuntcp up: ping through a real TUN, captured for Wireshark', () => {
  const netns = uniqueNetnsName('up');
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-up-'));
  const pcap = path.join(dir, 'up.pcap');
  let cli: CliProcess | undefined;

  afterAll(async () => {
    if (cli) await cli.stop('SIGKILL').catch(() => undefined);
    removeNetns(netns);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 5 pings, writes a pcap tshark reads, and removes its namespace on Ctrl-C', async () => {
    cli = startCli(['up', '--netns', netns, '--pcap', pcap]);
    await cli.waitForStderr('is up on');
    expect(netnsExists(netns)).toBe(true);

    const ping = spawnSync('ip', ['netns', 'exec', netns, 'ping', '-c', '5', '-i', '0.2', '-W', '2', '10.0.0.2'], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(ping.stdout).toMatch(/5 packets transmitted, 5 received/);

    const code = await cli.stop('SIGINT');
    expect(code).toBe(0);
    expect(netnsExists(netns)).toBe(false);

    // The capture holds the 5 requests and the 5 replies, in order, and tshark agrees the checksums are right.
    expect(readFileSync(pcap).readUInt32LE(20)).toBe(101); // LINKTYPE_RAW
    const tshark = spawnSync(
      'tshark',
      ['-r', pcap, '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type', '-e', 'ip.checksum.status', 'icmp'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    const rows = tshark.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(rows).toHaveLength(10);
    const requests = rows.filter((r) => r[0] === '10.0.0.1' && r[1] === '10.0.0.2' && r[2] === '8');
    const replies = rows.filter((r) => r[0] === '10.0.0.2' && r[1] === '10.0.0.1' && r[2] === '0');
    expect(requests).toHaveLength(5);
    expect(replies).toHaveLength(5);
    for (const r of rows) expect(r[3]).toBe('1'); // 1 = "Good" (0 would be "Bad")
  });

  it('--pcap - streams the capture to stdout for `wireshark -k -i -`', async () => {
    const live = startCli(['up', '--netns', netns, '--pcap', '-']);
    cli = live;
    await live.waitForStderr('is up on');
    const ping = spawnSync('ip', ['netns', 'exec', netns, 'ping', '-c', '2', '-i', '0.2', '-W', '2', '10.0.0.2'], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(ping.stdout).toMatch(/2 packets transmitted, 2 received/);
    expect(await live.stop('SIGINT')).toBe(0);
    const file = path.join(dir, 'stdout.pcap');
    writeFileSync(file, live.stdoutBytes());
    const tshark = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'icmp.type'], { encoding: 'utf8', timeout: 30_000 });
    expect(tshark.stdout.trim().split('\n')).toEqual(['8', '0', '8', '0']);
    expect(netnsExists(netns)).toBe(false);
  });

  it('rejects bad input with one line and a non-zero exit, creating nothing', () => {
    const cases: string[][] = [
      ['up', '--netns', netns, '--addr', '192.168.7.2'],
      ['up', '--netns', netns, '--mtu', '70000'],
      ['up', '--netns', netns, '--impair', 'loss=banana'],
      ['up', '--netns', netns, '--no-such-option'],
    ];
    for (const args of cases) {
      const r = runCli(args);
      expect(r.status, args.join(' ')).not.toBe(0);
      const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('tuntcp:'));
      expect(lines, r.stderr).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(netnsExists(netns)).toBe(false);
    }
  });
});
