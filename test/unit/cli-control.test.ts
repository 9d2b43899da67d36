/**
 * The control socket between `tuntcp serve` and `tuntcp ss`: a Unix socket in
 * a directory of the test's own (TUNTCP_RUN_DIR), no network, no privileges.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { chooseInstance, findInstances, requestSnapshot } from '../../src/cli/control/client.ts';
import { checkControlSocketFree, startControlServer } from '../../src/cli/control/server.ts';
import { takeSnapshot, type Snapshot } from '../../src/cli/control/snapshot.ts';
import { createIpStats } from '../../src/stack/stats.ts';
import { TcpStats } from '../../src/tcp/stats.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-control-'));
process.env['TUNTCP_RUN_DIR'] = path.join(dir, 'run');

function fakeSnapshot(netns: string): () => Snapshot {
  const stats = new TcpStats();
  stats.passiveOpens = 3;
  return () =>
    takeSnapshot({
      netns,
      address: '10.0.0.2',
      startedAt: Date.now() - 1000,
      ipStats: createIpStats,
      tcpStats: () => stats,
      listeners: () => [
        {
          getInfo: () => ({ localAddress: '0.0.0.0', localPort: 80, synQueueLength: 0, synQueueLimit: 256, acceptQueueLength: 1, acceptQueueLimit: 128, acceptQueueOverflows: 0, synQueueOverflows: 0 }),
        },
      ],
      connections: () => [],
      serviceByPort: new Map([[80, 'http']]),
    });
}

/** A socket file as a SIGKILLed process leaves it: present, nobody listening. */
async function staleSocket(name: string): Promise<string> {
  const file = path.join(dir, 'run', `${name}.sock`);
  const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(file)})`], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 10));
  holder.kill('SIGKILL');
  await once(holder, 'exit');
  return file;
}

describe('control socket', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers a snapshot request with one JSON line; root-only permissions; removed on close', async () => {
    const server = await startControlServer('ns-a', fakeSnapshot('ns-a'));
    try {
      expect(statSync(server.path).mode & 0o777).toBe(0o600);
      const s = await requestSnapshot(server.path);
      expect(s).toMatchObject({ version: 1, pid: process.pid, netns: 'ns-a', address: '10.0.0.2' });
      expect(s.listeners).toEqual([expect.objectContaining({ service: 'http', localPort: 80, acceptQueueLength: 1 })]);
      expect(s.tcp['passiveOpens']).toBe(3);
      expect(await chooseInstance(undefined)).toEqual({ netns: 'ns-a', socketPath: server.path });
      await expect(checkControlSocketFree('ns-a')).rejects.toThrow(`network namespace ns-a is in use by tuntcp serve (pid ${process.pid})`);
    } finally {
      await server.close();
    }
    expect(existsSync(server.path)).toBe(false);
  });

  it('finds instances, removes stale sockets on the way, and asks which when there are several', async () => {
    const a = await startControlServer('ns-a', fakeSnapshot('ns-a'));
    const b = await startControlServer('ns-b', fakeSnapshot('ns-b'));
    const stale = await staleSocket('ns-dead');
    try {
      expect((await findInstances()).map((i) => i.netns)).toEqual(['ns-a', 'ns-b']);
      expect(existsSync(stale)).toBe(false);
      await expect(chooseInstance(undefined)).rejects.toThrow('2 tuntcp serve instances are running (namespaces ns-a, ns-b): pick one with --netns');
      expect((await chooseInstance('ns-b')).netns).toBe('ns-b');
      await expect(chooseInstance('ns-c')).rejects.toThrow(/no tuntcp serve is running in namespace ns-c/);
    } finally {
      await a.close();
      await b.close();
    }
    await expect(chooseInstance(undefined)).rejects.toThrow(/no running tuntcp serve found/);
  });

  it('a stale socket does not block a new serve', async () => {
    const stale = await staleSocket('ns-old');
    await checkControlSocketFree('ns-old');
    expect(existsSync(stale)).toBe(false);
  });
});
