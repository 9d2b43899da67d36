/**
 * `tuntcp get`: our active open and Node's http client over our TCP, against
 * a kernel HTTP server (python3 -m http.server) the test starts first in a
 * namespace of its own, which get joins with a TUN device of its own.
 *
 * The get process itself runs inside a second, empty namespace: if it ever
 * opened a kernel socket by mistake, that socket would reach nothing.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { netnsExists, removeNetns, runCli, TUNTCP_BIN, uniqueNetnsName } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';
import { killAllPeers, makeRandomFile, runInNetns, sha256File, startInNetns, waitForKernelListener, type PeerResult } from '../helpers/peers.ts';

const KERNEL = '10.0.0.1';
const PORT = 8000;
const SIZE = 20_000_000;

function oneLine(r: { code: number | null; stderr: string }): string {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.code).not.toBeNull();
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^tuntcp: /);
  return lines[0]!;
}

function tunDevices(netns: string): string[] {
  return execFileSync('ip', ['-n', netns, '-o', 'link', 'show', 'type', 'tun'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.length > 0);
}

describe.skipIf(!canRunIntegration())('tuntcp get: download from a kernel server over our TCP', () => {
  const server = uniqueNetnsName('getsrv');
  const sandbox = uniqueNetnsName('getsbx');
  const fresh = uniqueNetnsName('getnew');
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-get-'));
  const www = path.join(dir, 'www');
  let hash = '';

  /** Runs `tuntcp get ARGS` from inside the sandbox namespace. */
  function get(args: string[], timeoutMs = 30_000): Promise<PeerResult> {
    return runInNetns(sandbox, [process.execPath, TUNTCP_BIN, 'get', ...args], { timeoutMs });
  }

  beforeAll(async () => {
    for (const ns of [server, sandbox]) execFileSync('ip', ['netns', 'add', ns]);
    mkdirSync(www);
    hash = await makeRandomFile(path.join(www, 'big.bin'), SIZE);
    writeFileSync(path.join(www, 'hello.txt'), 'hello from the kernel side\n');
    // Bound to every address: 10.0.0.1 appears only when get brings its device up.
    startInNetns(server, ['python3', '-m', 'http.server', '--bind', '0.0.0.0', '--directory', www, String(PORT)], { timeoutMs: 120_000 });
    await waitForKernelListener(server, PORT);
  });

  afterAll(async () => {
    await killAllPeers();
    for (const ns of [server, sandbox, fresh]) removeNetns(ns);
    rmSync(dir, { recursive: true, force: true });
    expect([server, sandbox, fresh].some(netnsExists)).toBe(false);
  });

  it('20 MB, byte-exact, with a summary that names the hash; only our device came and went', async () => {
    const out = path.join(dir, 'got.bin');
    const r = await get(['--netns', server, `http://${KERNEL}:${PORT}/big.bin`, '-o', out]);
    console.log(`20 MB through tuntcp get: ${r.ms} ms`);
    expect(r.code, r.stderr).toBe(0);
    expect(await sha256File(out)).toBe(hash);
    expect(r.stderr.trim()).toMatch(new RegExp(`^200 OK, ${SIZE} bytes in [\\d.]+s \\(.*/s\\), sha256 ${hash} -> ${out.replace(/[.]/g, '\\.')}$`));
    // The namespace was joined, not taken over: it is still there, without our device.
    expect(netnsExists(server)).toBe(true);
    expect(tunDevices(server)).toEqual([]);
  });

  it('--progress on a non-terminal prints progress lines ending at 100%', async () => {
    const out = path.join(dir, 'got2.bin');
    const r = await get(['--netns', server, `http://${KERNEL}:${PORT}/big.bin`, '-o', out, '--progress']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines.at(-2)).toMatch(/^\[#+\] 100%  19\.1 MiB \/ 19\.1 MiB  .*\/s  in [\d.]+s$/);
    expect(await sha256File(out)).toBe(hash);
  });

  it('without -o the body goes to stdout', async () => {
    const r = await get(['--netns', server, `http://${KERNEL}:${PORT}/hello.txt`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello from the kernel side\n');
  });

  it('a 404 and a closed port: one line each, non-zero, and our device is gone', async () => {
    expect(oneLine(await get(['--netns', server, `http://${KERNEL}:${PORT}/nope`]))).toBe('tuntcp: server answered 404 File not found');
    expect(oneLine(await get(['--netns', server, `http://${KERNEL}:${PORT + 1}/`]))).toBe(
      `tuntcp: ${KERNEL}:${PORT + 1}: ECONNREFUSED: connection refused`,
    );
    expect(tunDevices(server)).toEqual([]);
  });

  it('a namespace that does not exist is created for the run and removed after', async () => {
    const r = await get(['--netns', fresh, `http://${KERNEL}:${PORT}/`]);
    expect(oneLine(r)).toMatch(/ECONNREFUSED/);
    expect(netnsExists(fresh)).toBe(false);
  });

  it('a namespace whose subnet is taken (another stack there): refused, nothing of the other touched', async () => {
    // Stand-in for another tuntcp in the same namespace: 10.0.0.1/24 on a TUN device of its own.
    execFileSync('ip', ['-n', server, 'tuntap', 'add', 'dev', 'd0', 'mode', 'tun']);
    execFileSync('ip', ['-n', server, 'addr', 'add', '10.0.0.1/24', 'dev', 'd0']);
    try {
      const line = oneLine(await get(['--netns', server, `http://${KERNEL}:${PORT}/hello.txt`]));
      expect(line).toBe(
        `tuntcp: network namespace ${server} already has 10.0.0.1/24 on d0 (another tuntcp?): ` +
          'give this stack a subnet of its own, e.g. --kernel-addr 10.0.1.1/24 --addr 10.0.1.2',
      );
      expect(execFileSync('ip', ['-n', server, '-o', '-4', 'addr', 'show', 'dev', 'd0'], { encoding: 'utf8' })).toContain('10.0.0.1/24');
      expect(tunDevices(server).map((l) => l.split(':')[1]!.trim())).toEqual(['d0']);
      // With a subnet of its own, it reaches the same server (10.0.0.1 is local to the namespace).
      const r = await get(['--netns', server, '--kernel-addr', '10.0.1.1/24', '--addr', '10.0.1.2', `http://${KERNEL}:${PORT}/hello.txt`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('hello from the kernel side\n');
    } finally {
      execFileSync('ip', ['-n', server, 'tuntap', 'del', 'dev', 'd0', 'mode', 'tun']);
    }
  });

  it('bad input: one line, non-zero, nothing created', () => {
    const cases: [string[], RegExp][] = [
      [['https://10.0.0.1/'], /only http:\/\/ URLs/],
      [['http://example.com/'], /the host must be an IPv4 address/],
      [['http://127.0.0.1:8000/'], /loopback/],
      [['not a url'], /not a URL/],
      [['http://10.0.0.1/', '-o', path.join(dir, 'no', 'such', 'file')], /-o .*ENOENT/],
      [['http://10.0.0.1/', '--addr', '10.9.9.9'], /outside the TUN subnet/],
      [['http://10.0.0.1/', '--bogus'], /unknown option: --bogus/],
    ];
    for (const [args, pattern] of cases) {
      const r = runCli(['get', '--netns', fresh, ...args]);
      expect(oneLine({ code: r.status, stderr: r.stderr }), args.join(' ')).toMatch(pattern);
      expect(netnsExists(fresh)).toBe(false);
    }
    expect(readFileSync(path.join(www, 'hello.txt'), 'utf8')).toBe('hello from the kernel side\n');
  });
});
