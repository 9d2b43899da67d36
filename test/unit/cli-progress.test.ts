import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, ProgressBar, renderProgress } from '../../src/cli/progress.ts';

describe('progress bar', () => {
  it('shows fraction, size, rate and ETA when the size is known', () => {
    const line = renderProgress({ bytes: 50 * 1048576, total: 100 * 1048576, elapsedMs: 5_000, bytesPerSecond: 10 * 1048576, columns: 80, final: false });
    expect(line).toBe('[##############..............]  50%  50.0 MiB / 100.0 MiB  10.0 MiB/s  ETA 5.0s');
    expect(line.length).toBeLessThan(80);
  });

  it('shows size, rate and elapsed time when the size is unknown', () => {
    expect(renderProgress({ bytes: 1536, total: undefined, elapsedMs: 2_000, bytesPerSecond: 768, columns: 80, final: false })).toBe(
      '1.5 KiB  768 B/s  2.0s',
    );
  });

  it('drops the bar on a narrow terminal rather than wrapping', () => {
    const line = renderProgress({ bytes: 1, total: 2, elapsedMs: 1, bytesPerSecond: 0, columns: 30, final: false });
    expect(line).toBe('50%  1 B / 2 B  0 B/s  ETA --');
  });

  it('redraws in place on a terminal and prints lines elsewhere, ending with the average rate', () => {
    let t = 0;
    const tty: string[] = [];
    const bar = new ProgressBar({ total: 1000, sink: { write: (s: string) => tty.push(s) }, tty: true, now: () => t });
    for (let i = 0; i < 10; i++) {
      t += 150;
      bar.add(100);
    }
    bar.finish();
    expect(tty.every((s) => s.startsWith('\r') && s.includes('\x1b[K'))).toBe(true);
    expect(tty.at(-1)).toMatch(/100%  1000 B \/ 1000 B {2}667 B\/s {2}in 1\.5s\x1b\[K\n$/);

    t = 0;
    const log: string[] = [];
    const bar2 = new ProgressBar({ total: 1000, sink: { write: (s: string) => log.push(s) }, tty: false, now: () => t });
    for (let i = 0; i < 10; i++) {
      t += 150;
      bar2.add(100);
    }
    bar2.finish();
    // One line a second at most, plus the final one.
    expect(log.length).toBeLessThanOrEqual(3);
    expect(log.every((s) => !s.includes('\r') && s.endsWith('\n'))).toBe(true);
  });

  it('formats sizes in binary units and durations compactly', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(100_000_000)).toBe('95.4 MiB');
    expect(formatDuration(0.25)).toBe('0.3s');
    expect(formatDuration(75)).toBe('1m15s');
    expect(formatDuration(3 * 3600 + 120)).toBe('3h02m');
    expect(formatDuration(Infinity)).toBe('--');
  });
});
