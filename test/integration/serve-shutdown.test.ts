/**
 * Ctrl-C on a busy `tuntcp serve`: listeners close, open connections get the
 * grace period to finish with FIN, the rest are reset, and the process exits
 * 0 leaving no namespace, device, control socket or process behind.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { netnsExists, removeNetns, startCli, uniqueNetnsName, type CliProcess } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';
import { killAllPeers, sleep, startInNetns, type Peer, type PeerResult } from '../helpers/peers.ts';

const STACK = '10.0.0.2';
const GRACE_MS = 1500;

interface Client {
  kind: string;
  peer: Peer;
}

/** What a client saw at the end: the server's FIN (a clean, if early, end) or its RST. */
function outcome(kind: string, r: PeerResult): 'fin' | 'reset' | 'other' {
  if (kind.startsWith('curl')) {
    // 18: "transfer closed with N bytes remaining" (FIN before Content-Length);
    // 56: "Recv failure: Connection reset by peer".
    if (r.code === 18) return 'fin';
    if (r.code === 56 && /reset/i.test(r.stderr)) return 'reset';
    return 'other';
  }
  // nc exits 0 when the connection ends with FIN, 1 with a message on a reset.
  if (r.code === 0) return 'fin';
  if (r.code === 1 && /reset|broken pipe/i.test(r.stderr)) return 'reset';
  return 'other';
}

describe.skipIf(!canRunIntegration())('tuntcp serve: Ctrl-C during 20 active transfers', () => {
  const netns = uniqueNetnsName('srvstop');
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-stop-'));
  process.env['TUNTCP_RUN_DIR'] = path.join(dir, 'run');
  let cli: CliProcess | undefined;

  // If this worker dies before afterAll, the serve still cleans up after itself on SIGTERM.
  process.once('exit', () => cli?.child.kill('SIGTERM'));

  afterAll(async () => {
    if (cli) await cli.stop('SIGKILL').catch(() => undefined);
    await killAllPeers();
    removeNetns(netns);
    rmSync(dir, { recursive: true, force: true });
  });

  it('every client sees a FIN or an RST, the process exits 0 within the grace period, nothing is left', async () => {
    cli = startCli(['serve', '--netns', netns, '--http-port', '80', '--chargen-port', '19', '--grace-ms', String(GRACE_MS)]);
    await cli.waitForStderr('Ctrl-C stops');
    const pid = cli.child.pid!;
    const socketFile = path.join(dir, 'run', `${netns}.sock`);
    expect(existsSync(socketFile)).toBe(true);

    const clients: Client[] = [];
    // No shells in between: a peer's PID is the client itself.
    const start = (kind: string, cmd: string[], stdinFile?: string): void => {
      clients.push({ kind, peer: startInNetns(netns, cmd, { timeoutMs: 30_000, ...(stdinFile ? { stdinFile } : {}) }) });
    };
    for (let i = 0; i < 5; i++) {
      // A reader slower than the server: our send buffer stays full, the FIN cannot get out in time.
      start('curl-limited', ['curl', '-sS', '--limit-rate', '100k', '-o', '/dev/null', `http://${STACK}/bytes/10000000000`]);
      // A server-paced response that would take minutes.
      start('curl-slow', ['curl', '-sS', '-o', '/dev/null', `http://${STACK}/slow?rate=20000&bytes=10000000`]);
      // chargen to a fast reader: it stops producing at end(), so FIN follows what is queued.
      start('nc-chargen', ['nc', STACK, '19']);
      // An upload that never ends by itself: discard answers our FIN... with more data arriving, until the RST.
      start('nc-discard', ['nc', '-N', STACK, '9'], '/dev/zero');
    }
    expect(clients).toHaveLength(20);

    // Wait until all 20 are established on our side (bounded).
    const established = async (): Promise<number> => {
      const r = startInNetns(netns, ['ss', '-Htn', 'state', 'established', 'dst', STACK], { timeoutMs: 5_000 });
      return (await r.done).stdout.trim().split('\n').filter((l) => l.length > 0).length;
    };
    let open = 0;
    for (let i = 0; i < 100 && open < 20; i++) {
      open = await established();
      if (open < 20) await sleep(50);
    }
    expect(open, 'not all 20 transfers got going').toBe(20);
    await sleep(300);

    const signalled = Date.now();
    const code = await cli.stop('SIGINT', GRACE_MS + 10_000);
    const tookMs = Date.now() - signalled;
    console.log(`exit ${code} ${tookMs} ms after SIGINT (grace ${GRACE_MS} ms)`);
    expect(code, cli.stderr()).toBe(0);
    expect(tookMs).toBeLessThan(GRACE_MS + 1_000);
    expect(cli.stderr()).toMatch(/stopping: listeners closed; 20 open connection\(s\) have 1500 ms to finish/);

    // Every client notices soon after the server's exit. "Soon" is the
    // rate-limited curl's to decide: it reads in whatever chunks the kernel
    // has buffered and then sleeps until its average is back at 100 KB/s;
    // the reset is seen at its next read (up to ~6 s here with offload,
    // where the kernel's receive buffer grows faster).
    const all = Promise.all(clients.map(async (c) => ({ kind: c.kind, r: await c.peer.done })));
    const results = await Promise.race([all, sleep(15_000).then(() => null)]);
    if (results === null) throw new Error('some clients were still running 15 s after the server exited');
    const seen = results.map(({ kind, r }) => `${kind}: exit ${r.code ?? r.signal} ${outcome(kind, r)} ${r.stderr.trim().split('\n').at(-1) ?? ''}`);
    console.log(seen.join('\n'));
    for (const { kind, r } of results) {
      expect(r.timedOut, `${kind} still running after the server stopped`).toBe(false);
      expect(outcome(kind, r), `${kind}: exit ${r.code}, ${r.stderr}`).not.toBe('other');
    }
    // Limited readers cannot drain in time: those were reset.
    expect(results.filter(({ kind, r }) => kind === 'curl-limited' && outcome(kind, r) === 'reset').length).toBeGreaterThan(0);

    // Nothing left: namespace (and with it the device), control socket, process.
    expect(netnsExists(netns)).toBe(false);
    expect(existsSync(socketFile)).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);

  it('a second Ctrl-C exits at once, and still removes the namespace and the control socket', async () => {
    const ns2 = uniqueNetnsName('srvstop2');
    const cli2 = startCli(['serve', '--netns', ns2, '--grace-ms', '20000']);
    try {
      await cli2.waitForStderr('Ctrl-C stops');
      const socketFile = path.join(dir, 'run', `${ns2}.sock`);
      const peers = [0, 1].map(() =>
        startInNetns(ns2, ['curl', '-sS', '--limit-rate', '50k', '-o', '/dev/null', `http://${STACK}/bytes/1000000000`], { timeoutMs: 10_000 }),
      );
      await sleep(500);
      const signalled = Date.now();
      cli2.child.kill('SIGINT');
      await cli2.waitForStderr('stopping:');
      cli2.child.kill('SIGINT');
      const code = await cli2.exited();
      const tookMs = Date.now() - signalled;
      console.log(`second Ctrl-C: exit ${code} after ${tookMs} ms (grace was 20000 ms)`);
      expect(code).toBe(130);
      expect(tookMs).toBeLessThan(3_000);
      expect(netnsExists(ns2)).toBe(false);
      expect(existsSync(socketFile)).toBe(false);
      // The immediate path still sends each client an RST before the device goes.
      for (const p of peers) {
        const r = await p.done;
        expect(r.timedOut).toBe(false);
        expect(outcome('curl', r), r.stderr).toBe('reset');
      }
    } finally {
      await cli2.stop('SIGKILL').catch(() => undefined);
      removeNetns(ns2);
    }
  }, 30_000);
});
