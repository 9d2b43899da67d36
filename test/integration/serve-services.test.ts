/**
 * `tuntcp serve` as people run it: a child process with its own namespace,
 * reached by real clients we did not write (curl, nc) from the kernel's side.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patternSha256 } from '../../src/services/pattern.ts';
import { netnsExists, removeNetns, startCli, uniqueNetnsName, type CliProcess } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';
import { killAllPeers, makeRandomFile, runInNetns, sha256File } from '../helpers/peers.ts';

const STACK = '10.0.0.2';
const HTTP_PORT = 8080;
const ECHO_PORT = 7007;
const DISCARD_PORT = 9009;
const HUNDRED_MB = 100_000_000;

describe.skipIf(!canRunIntegration())('tuntcp serve: http, echo and discard for real clients', () => {
  const netns = uniqueNetnsName('srvsvc');
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-serve-'));
  // A control-socket directory of our own: nothing of a user's /run/tuntcp is touched.
  process.env['TUNTCP_RUN_DIR'] = path.join(dir, 'run');
  const base = `http://${STACK}:${HTTP_PORT}`;
  let cli: CliProcess | undefined;

  beforeAll(async () => {
    cli = startCli([
      'serve', '--netns', netns,
      '--http-port', String(HTTP_PORT), '--echo-port', String(ECHO_PORT), '--discard-port', String(DISCARD_PORT),
    ]);
    await cli.waitForStderr('Ctrl-C stops');
  });

  // If this worker dies before afterAll, the serve still cleans up after itself on SIGTERM.
  process.once('exit', () => cli?.child.kill('SIGTERM'));

  afterAll(async () => {
    let code: number | string = 'not started';
    try {
      if (cli) code = await cli.stop('SIGINT');
    } finally {
      await killAllPeers();
      removeNetns(netns);
      rmSync(dir, { recursive: true, force: true });
    }
    expect(code, cli?.stderr()).toBe(0);
    expect(netnsExists(netns)).toBe(false);
  });

  it('says where it listens and how to reach it', () => {
    const err = cli!.stderr();
    expect(err).toContain(`in network namespace ${netns}`);
    expect(err).toContain(`serving http :${HTTP_PORT}, echo :${ECHO_PORT}, discard :${DISCARD_PORT}`);
    expect(err).toContain(`curl http://${STACK}:${HTTP_PORT}/`);
  });

  it('curl GET / returns the greeting', async () => {
    const r = await runInNetns(netns, ['curl', '-sS', '--max-time', '10', `${base}/`], { timeoutMs: 15_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Hello from tuntcp/);
  });

  it('curl GET /bytes/100000000: 100 MB whose SHA-256 is the pattern\'s, as /bytes/N?sha256 announces', async () => {
    const out = path.join(dir, 'bytes.bin');
    const r = await runInNetns(
      netns,
      ['curl', '-sS', '--max-time', '40', '-o', out, '-w', '%{http_code} %{size_download}', `${base}/bytes/${HUNDRED_MB}`],
      { timeoutMs: 45_000 },
    );
    console.log(`100 MB download: ${r.ms} ms`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`200 ${HUNDRED_MB}`);
    const got = await sha256File(out);
    rmSync(out, { force: true });
    // Independently computed here, and announced by the server.
    expect(got).toBe(patternSha256(HUNDRED_MB));
    const announced = await runInNetns(netns, ['curl', '-sS', '--max-time', '20', `${base}/bytes/${HUNDRED_MB}?sha256`], { timeoutMs: 25_000 });
    expect(announced.stdout).toBe(`${got}  -\n`);
  }, 60_000);

  it('curl POST of 100 MB to /sha256: the server hashed exactly what was sent', async () => {
    const input = path.join(dir, 'upload.bin');
    const hash = await makeRandomFile(input, HUNDRED_MB);
    const r = await runInNetns(
      netns,
      ['curl', '-sS', '--max-time', '40', '-H', 'content-type: application/octet-stream', '--data-binary', `@${input}`, `${base}/sha256`],
      { timeoutMs: 45_000 },
    );
    console.log(`100 MB upload: ${r.ms} ms`);
    rmSync(input, { force: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${hash}  ${HUNDRED_MB}\n`);
  }, 60_000);

  it('nc to echo: 1 MB comes back byte-exact', async () => {
    const input = path.join(dir, 'echo-in.bin');
    const output = path.join(dir, 'echo-out.bin');
    const hash = await makeRandomFile(input, 1 << 20);
    const r = await runInNetns(netns, ['nc', '-N', STACK, String(ECHO_PORT)], { timeoutMs: 20_000, stdinFile: input, stdoutFile: output });
    expect(r.timedOut).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(output).size).toBe(1 << 20);
    expect(await sha256File(output)).toBe(hash);
  });

  it('nc to discard: 10 MB are taken, nothing comes back', async () => {
    const input = path.join(dir, 'discard-in.bin');
    const output = path.join(dir, 'discard-out.bin');
    await makeRandomFile(input, 10 << 20);
    const before = await stats();
    const r = await runInNetns(netns, ['nc', '-N', STACK, String(DISCARD_PORT)], { timeoutMs: 20_000, stdinFile: input, stdoutFile: output });
    expect(r.timedOut).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(output).length).toBe(0);
    const after = await stats();
    // At least 10 MB worth of segments arrived (MSS 1460).
    expect(after.tcp['segmentsIn']! - before.tcp['segmentsIn']!).toBeGreaterThan((10 << 20) / 1460);
    expect(after.tcp['rstsSent']).toBe(before.tcp['rstsSent']);
  });

  it('200 concurrent curl clients (xargs -P 50) all get their 100 KB, byte-exact', async () => {
    // Each client's body goes through sha256sum: a short or garbled body changes its line.
    const script = `seq 200 | xargs -P 50 -I{} sh -c 'curl -sS --max-time 30 ${base}/bytes/100000 | sha256sum'`;
    const r = await runInNetns(netns, ['sh', '-c', script], { timeoutMs: 50_000 });
    console.log(`200 clients, 50 at a time: ${r.ms} ms`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(200);
    expect(lines.filter((l) => l === `${patternSha256(100_000)}  -`)).toHaveLength(200);
  }, 60_000);

  it('HTTP keep-alive: curl with three URLs sends them over one connection', async () => {
    const r = await runInNetns(
      netns,
      ['curl', '-sv', '--max-time', '10', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', `${base}/`, `${base}/bytes/1000`, `${base}/stats`],
      { timeoutMs: 15_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.match(/Re-using existing connection/g)).toHaveLength(2);
    expect(r.stderr.match(/^\* +Connected to /gm)).toHaveLength(1);
    expect(r.stderr.match(/< HTTP\/1\.1 200/g)).toHaveLength(3);
  });

  it('/stats is JSON with ip and tcp counters, listeners with queue limits, connections with getInfo()', async () => {
    const s = await stats();
    expect(s.ip['ipPacketsIn']).toBeGreaterThan(0);
    expect(s.tcp['passiveOpens']).toBeGreaterThan(200);
    const ports = s.listeners.map((l) => l.localPort).sort((a, b) => a - b);
    expect(ports).toEqual([ECHO_PORT, HTTP_PORT, DISCARD_PORT].sort((a, b) => a - b));
    const http = s.listeners.find((l) => l.localPort === HTTP_PORT)!;
    expect(http).toMatchObject({ service: 'http', acceptQueueLimit: 128, synQueueLimit: 256 });
    // The request that asks is itself a connection the snapshot shows.
    const self = s.connections.find((c) => c.localPort === HTTP_PORT && c.state === 'ESTABLISHED');
    expect(self).toBeDefined();
    expect(self).toHaveProperty('rcvBufSize', 65536);
    expect(self).toHaveProperty('srtt');
  });

  async function stats(): Promise<{
    ip: Record<string, number>;
    tcp: Record<string, number>;
    listeners: { localPort: number; service: string }[];
    connections: { localPort: number; state: string }[];
  }> {
    const r = await runInNetns(netns, ['curl', '-sS', '--max-time', '10', `${base}/stats`], { timeoutMs: 15_000 });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  }
});
