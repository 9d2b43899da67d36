/**
 * Every way `tuntcp serve` can be started wrongly ends the same way: one
 * line starting with `tuntcp:`, a non-zero exit, and nothing left behind —
 * least of all another instance's namespace.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { netnsExists, REPO_ROOT, removeNetns, runCli, startCli, TUNTCP_BIN, uniqueNetnsName, type CliProcess } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';
import { killAllPeers, runInNetns } from '../helpers/peers.ts';

function expectOneLineFailure(r: { status: number | null; stderr: string }, what: string, pattern: RegExp): void {
  expect(r.status, `${what}: exit status`).not.toBe(0);
  expect(r.status, `${what}: exit status`).not.toBeNull();
  const lines = r.stderr.trim().split('\n');
  expect(lines, `${what}: stderr was\n${r.stderr}`).toHaveLength(1);
  expect(lines[0]).toMatch(/^tuntcp: /);
  expect(lines[0]).toMatch(pattern);
}

describe.skipIf(!canRunIntegration())('tuntcp serve: bad input is one line and a non-zero exit', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-bad-'));
  process.env['TUNTCP_RUN_DIR'] = path.join(dir, 'run');
  const netns = uniqueNetnsName('srvbad');
  const busy = uniqueNetnsName('srvbusy');
  const leftover = uniqueNetnsName('srvleft');
  let first: CliProcess | undefined;

  // If this worker dies before afterAll, the serve still cleans up after itself on SIGTERM.
  process.once('exit', () => first?.child.kill('SIGTERM'));

  afterAll(async () => {
    if (first) await first.stop('SIGKILL').catch(() => undefined);
    await killAllPeers();
    for (const ns of [netns, busy, leftover]) removeNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects bad options before creating anything', () => {
    const cases: [string, string[], RegExp][] = [
      ['unknown option', ['--no-such-option'], /unknown option: --no-such-option/],
      ['two services on one port', ['--http-port', '7'], /port 7 is given to both --http-port and --echo-port/],
      ['port out of range', ['--echo-port', '70000'], /--echo-port 70000/],
      ['address outside the subnet', ['--addr', '192.168.7.2'], /--addr 192\.168\.7\.2 is outside the TUN subnet 10\.0\.0\.1\/24/],
      ['missing directory', ['--root', path.join(dir, 'no-such-dir')], /--root .*no-such-dir: no such directory/],
      ['negative rate', ['--slow-reader', '-5'], /--slow-reader -5/],
      ['contradiction', ['--no-accept', '--accept-every-ms', '100'], /--no-accept and --accept-every-ms/],
      ['congestion control the core lacks', ['--cc', 'bbr'], /Invalid values:.*cc/s],
      ['bad impairment', ['--impair', 'loss=banana'], /loss/],
      ['trace file in a missing directory', ['--trace', path.join(dir, 'nope', 'trace.jsonl')], /--trace .*ENOENT/],
    ];
    for (const [what, args, pattern] of cases) {
      const r = runCli(['serve', '--netns', netns, ...args]);
      expectOneLineFailure(r, what, pattern);
      expect(netnsExists(netns), `${what} left the namespace`).toBe(false);
    }
  });

  it('a capture file that cannot be created: the namespace it had made is removed again', () => {
    const r = runCli(['serve', '--netns', netns, '--pcap', path.join(dir, 'nope', 'x.pcap')]);
    expectOneLineFailure(r, 'pcap', /x\.pcap/);
    expect(netnsExists(netns)).toBe(false);
  });

  it('without privileges: says what is missing', () => {
    // uid 0 without CAP_NET_ADMIN/CAP_SYS_ADMIN rather than another user,
    // who might not be able to read the checkout at all.
    const r = spawnSync('setpriv', ['--bounding-set', '-net_admin,-sys_admin', process.execPath, TUNTCP_BIN, 'serve', '--netns', netns], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expectOneLineFailure({ status: r.status, stderr: r.stderr }, 'unprivileged', /needs CAP_NET_ADMIN/);
    expect(netnsExists(netns)).toBe(false);
  });

  it('a namespace in use by another serve: refused, and the other instance keeps working', async () => {
    first = startCli(['serve', '--netns', busy, '--http-port', '8080']);
    await first.waitForStderr('Ctrl-C stops');
    const pid = first.child.pid;

    // Found through its control socket: named, with its pid.
    const second = runCli(['serve', '--netns', busy, '--http-port', '8080']);
    expectOneLineFailure(second, 'in use (control socket)', new RegExp(`namespace ${busy} is in use by tuntcp serve \\(pid ${pid}\\)`));

    // Even without the control socket (another run directory): its attached TUN device gives it away.
    const saved = process.env['TUNTCP_RUN_DIR'];
    process.env['TUNTCP_RUN_DIR'] = path.join(dir, 'other-run');
    try {
      const third = runCli(['serve', '--netns', busy, '--http-port', '8080']);
      expectOneLineFailure(third, 'in use (device)', new RegExp(`namespace ${busy} is in use by another running tuntcp`));
    } finally {
      process.env['TUNTCP_RUN_DIR'] = saved;
    }

    expect(netnsExists(busy)).toBe(true);
    const r = await runInNetns(busy, ['curl', '-sS', '--max-time', '5', 'http://10.0.0.2:8080/'], { timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Hello from tuntcp/);
    expect(await first.stop('SIGINT')).toBe(0);
    expect(netnsExists(busy)).toBe(false);
  });

  it('a leftover namespace nobody uses: refused with the command that removes it, and left alone', () => {
    spawnSync('ip', ['netns', 'add', leftover]);
    const r = runCli(['serve', '--netns', leftover]);
    expectOneLineFailure(r, 'leftover', new RegExp(`namespace ${leftover} already exists .*ip netns del ${leftover}`));
    expect(netnsExists(leftover)).toBe(true);
  });
});
