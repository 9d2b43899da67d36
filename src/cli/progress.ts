/**
 * A download progress bar for stderr: size, rate, ETA. On a terminal it
 * redraws one line in place ten times a second; forced onto something that
 * is not a terminal (`--progress` into a log) it prints one line a second,
 * because carriage returns make a mess of files.
 */
export interface ProgressSink {
  write(text: string): unknown;
}

export interface ProgressOptions {
  /** Expected size in bytes (Content-Length), if known. */
  total: number | undefined;
  sink: ProgressSink;
  /** Redraw in place (a terminal) or print lines. */
  tty: boolean;
  /** Terminal width; the bar shrinks to fit. */
  columns?: number;
  now?: () => number;
}

/** How far back the rate (and so the ETA) looks: long enough to be steady, short enough to follow a stall. */
const RATE_WINDOW_MS = 3_000;

export class ProgressBar {
  private bytes = 0;
  private readonly started: number;
  private lastDraw = -Infinity;
  private readonly samples: { t: number; bytes: number }[] = [];
  private readonly now: () => number;
  private finished = false;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
    this.samples.push({ t: this.started, bytes: 0 });
  }

  /** `n` more bytes arrived. */
  add(n: number): void {
    this.bytes += n;
    const t = this.now();
    const every = this.options.tty ? 100 : 1_000;
    if (t - this.lastDraw < every) return;
    this.lastDraw = t;
    this.sample(t);
    this.draw(false);
  }

  /** The last line, then a newline. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.sample(this.now());
    this.draw(true);
  }

  private sample(t: number): void {
    this.samples.push({ t, bytes: this.bytes });
    while (this.samples.length > 2 && t - this.samples[0]!.t > RATE_WINDOW_MS) this.samples.shift();
  }

  private draw(final: boolean): void {
    const t = this.now();
    const elapsedMs = t - this.started;
    const first = this.samples[0]!;
    const recentRate = t > first.t ? ((this.bytes - first.bytes) * 1000) / (t - first.t) : 0;
    const line = renderProgress({
      bytes: this.bytes,
      total: this.options.total,
      elapsedMs,
      // The final line reports the average over the whole transfer.
      bytesPerSecond: final ? (elapsedMs > 0 ? (this.bytes * 1000) / elapsedMs : 0) : recentRate,
      columns: this.options.columns ?? 80,
      final,
    });
    if (this.options.tty) this.options.sink.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else this.options.sink.write(`${line}\n`);
  }
}

export interface ProgressState {
  bytes: number;
  total: number | undefined;
  elapsedMs: number;
  bytesPerSecond: number;
  columns: number;
  final: boolean;
}

/** One line: `[#####.....]  45%  45.0 MiB / 100.0 MiB  12.3 MiB/s  ETA 4s`. */
export function renderProgress(s: ProgressState): string {
  const rate = `${formatBytes(s.bytesPerSecond)}/s`;
  if (s.total === undefined || s.total <= 0) {
    return `${formatBytes(s.bytes)}  ${rate}  ${s.final ? `in ${formatDuration(s.elapsedMs / 1000)}` : formatDuration(s.elapsedMs / 1000)}`;
  }
  const fraction = Math.min(1, s.bytes / s.total);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const tail = s.final
    ? `in ${formatDuration(s.elapsedMs / 1000)}`
    : `ETA ${s.bytesPerSecond > 0 ? formatDuration((s.total - s.bytes) / s.bytesPerSecond) : '--'}`;
  const text = ` ${percent}  ${formatBytes(s.bytes)} / ${formatBytes(s.total)}  ${rate}  ${tail}`;
  const barWidth = Math.max(0, Math.min(30, s.columns - text.length - 3));
  if (barWidth < 5) return text.trimStart();
  const filled = Math.round(fraction * barWidth);
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${text}`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

export function formatBytes(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--';
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
