/**
 * `npm run bench -- --smoke`: one short round of every measurement on every
 * path, so that a change which breaks the bench (a path that no longer sets
 * up, a client that no longer parses, a server that no longer answers) fails
 * here and not on the day someone wants numbers. It asserts only that each
 * path produced a number; the numbers themselves are noise at this length.
 *
 * slirp4netns is optional here (CI installs it): without it the bench skips
 * its column and says so.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findExecutable } from '../../src/tun/prerequisites.ts';
import { REPO_ROOT } from '../helpers/cli.ts';
import { canRunIntegration } from '../helpers/netns.ts';

interface Spread {
  median: number;
}

interface BenchReport {
  config: { paths: string[] };
  results: Record<string, { unit: string; paths: Record<string, Spread | null> }>;
  idle: Record<string, { established: number; rssMB: number } | null>;
  parallel: Record<'recv' | 'send', Record<string, { stalls: number; intervals: number; failed: number } | undefined>> | null;
  warnings: string[];
}

const haveIperf3 = findExecutable('iperf3') !== undefined;
const haveSlirp = findExecutable('slirp4netns') !== undefined;

describe.skipIf(!canRunIntegration() || !haveIperf3)('npm run bench -- --smoke', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tuntcp-bench-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('measures every path once and writes the JSON report', { timeout: 180_000 }, async () => {
    if (!haveSlirp) console.warn('slirp4netns is not installed: the bench skips its column (apt-get install -y slirp4netns)');
    const out = path.join(dir, 'smoke.json');
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--out', out, '--max-minutes', '3'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // The bench bounds itself (--max-minutes); this is the test's own bound.
    const timer = setTimeout(() => child.kill('SIGINT'), 170_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    clearTimeout(timer);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(existsSync(out)).toBe(true);
    const report = JSON.parse(readFileSync(out, 'utf8')) as BenchReport;

    const expected = ['veth', 'tuntcp', ...(haveSlirp ? ['slirp'] : [])];
    // tuntcp --no-offload: throughput and parallel streams only.
    const throughputOnly = ['tuntcp-nooff'];
    expect([...report.config.paths].sort()).toEqual([...expected, ...throughputOnly].sort());
    for (const key of ['recv_1500', 'send_1500', 'par_recv_P1', 'par_send_P8']) {
      const median = report.results[key]?.paths['tuntcp-nooff']?.median;
      expect(Number.isFinite(median) && median! > 0, `${key} on tuntcp-nooff: ${String(median)}\n${stderr}`).toBe(true);
    }
    // --smoke runs the parallel-streams measurement with iperf3 -P 1 and -P 8.
    const parallelKeys = ['par_recv_P1', 'par_recv_P8', 'par_send_P1', 'par_send_P8'];
    for (const key of ['recv_1500', 'send_1500', 'crr', 'rr_median', 'rr_p99', ...parallelKeys]) {
      for (const p of expected) {
        const median = report.results[key]?.paths[p]?.median;
        expect(Number.isFinite(median) && median! > 0, `${key} on ${p}: ${String(median)}\n${stderr}`).toBe(true);
      }
    }
    for (const p of expected) {
      for (const dir of ['recv', 'send'] as const) {
        const c = report.parallel?.[dir][p];
        expect(c?.failed, `parallel ${dir} on ${p}: ${JSON.stringify(c)}\n${stderr}`).toBe(0);
        expect(Number.isInteger(c?.stalls)).toBe(true);
      }
      expect(report.idle[p]?.established, `idle on ${p}\n${stderr}`).toBe(200);
      expect(report.idle[p]?.rssMB).toBeGreaterThan(0);
    }
    // The markdown table went to stdout.
    expect(stdout).toMatch(/\| measure \|/);
    expect(stdout).toMatch(/\| parallel streams, stack receives: P=8 ÷ P=1 /);
    expect(stdout).toMatch(/\| parallel streams, stack sends: stalls /);
  });
});
