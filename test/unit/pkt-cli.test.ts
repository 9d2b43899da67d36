import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import yargs from 'yargs';
import { pktCommand } from '../../src/cli/commands/pkt.ts';
import { collectScripts } from '../../src/pkt/files.ts';

const PASS = '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n';
const FAIL = `${PASS}+0 < S 0:0(0) win 65535 <mss 1460>\n+0 > S. 0:0(0) ack 1 win 1 <mss 1460>\n`;
const UNSUPPORTED = `${PASS}+0 < udp (10)\n`;

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-pkt-'));
  mkdirSync(path.join(dir, 'a'));
  mkdirSync(path.join(dir, 'pending'));
  mkdirSync(path.join(dir, 'known-failing'));
  writeFileSync(path.join(dir, 'a', 'ok.pkt'), PASS);
  writeFileSync(path.join(dir, 'a', 'notes.txt'), 'not a script');
  writeFileSync(path.join(dir, 'b-fail.pkt'), FAIL);
  writeFileSync(path.join(dir, 'c-unsupported.pkt'), UNSUPPORTED);
  writeFileSync(path.join(dir, 'pending', 'later.pkt'), FAIL);
  writeFileSync(path.join(dir, 'known-failing', 'bug.pkt'), FAIL);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = 0;
});

async function runCli(args: string[]): Promise<{ out: string; code: number }> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  await yargs(args).command(pktCommand).strict().parseAsync();
  const code = Number(process.exitCode ?? 0);
  vi.restoreAllMocks();
  return { out, code };
}

describe('pkt script collection', () => {
  it('walks directories for .pkt files, skipping pending/ and known-failing/ unless named', () => {
    const all = collectScripts([dir]).map((p) => path.relative(dir, p));
    expect(all).toEqual([path.join('a', 'ok.pkt'), 'b-fail.pkt', 'c-unsupported.pkt']);
    expect(collectScripts([path.join(dir, 'pending')]).map((p) => path.basename(p))).toEqual(['later.pkt']);
    expect(() => collectScripts([path.join(dir, 'nope')])).toThrow(/no such file or directory/);
  });
});

describe('tuntcp pkt', () => {
  it('prints one line per script and a summary, and exits 1 on a failure', async () => {
    const { out, code } = await runCli(['pkt', dir]);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe(`pass  ${path.join(dir, 'a', 'ok.pkt')}`);
    expect(lines[1]).toBe(
      `fail  ${path.join(dir, 'b-fail.pkt')}: line 5: expected > S. 0:0(0) ack 1 win 1 <mss 1460> got > S. 0:0(0) ack 1 win 64240 <mss 1460> (tcp_window: expected 1, actual 64240)`,
    );
    expect(lines[2]).toBe(`unsupported  ${path.join(dir, 'c-unsupported.pkt')}: udp packets`);
    expect(lines[3]).toBe('1 passed, 1 failed, 1 unsupported');
    expect(code).toBe(1);
  });

  it('exits 0 when nothing failed, and reports JSON on request', async () => {
    const ok = await runCli(['pkt', path.join(dir, 'a')]);
    expect(ok.code).toBe(0);
    const { out } = await runCli(['pkt', '--json', path.join(dir, 'c-unsupported.pkt')]);
    expect(JSON.parse(out)).toEqual({
      results: [{ path: path.join(dir, 'c-unsupported.pkt'), status: 'unsupported', feature: 'udp packets', line: 4 }],
      summary: { passed: 0, failed: 0, unsupported: 1 },
    });
  });

  it('passes --tolerant and --profile through', async () => {
    const f = path.join(dir, 'nop.pkt');
    writeFileSync(f, `${PASS}+0 < S 0:0(0) win 65535 <mss 1460>\n+0 > S. 0:0(0) ack 1 <nop,nop,nop,nop,mss 1460>\n`);
    expect((await runCli(['pkt', f])).code).toBe(1);
    expect((await runCli(['pkt', '--tolerant', f])).code).toBe(0);
    rmSync(f);
  });
});
