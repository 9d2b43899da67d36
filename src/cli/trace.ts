import { createWriteStream, type WriteStream } from 'node:fs';
import type { TcpTraceEvent } from '../tcp/trace.ts';

export const TRACE_HELP =
  'write a JSON line per TCP event (state changes, timer firings, SYN/accept-queue overflows) to stderr, or to FILE with --trace FILE';

/** Where `--trace` events go: JSON lines, each stamped with wall-clock time. */
export interface TraceSink {
  event: (e: TcpTraceEvent) => void;
  close(): Promise<void>;
}

/** `target` '' or '-' means stderr; anything else is a file, truncated. */
export async function openTraceSink(target: string): Promise<TraceSink> {
  if (target === '' || target === '-') {
    return {
      event: (e) => process.stderr.write(line(e)),
      close: async () => undefined,
    };
  }
  const stream: WriteStream = createWriteStream(target, { flags: 'w' });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`--trace ${target}: ${err.code ?? err.message}`)));
  });
  let failed = false;
  stream.on('error', () => (failed = true));
  return {
    // A trace that cannot keep up is a trace, not a reason to stall the stack:
    // the stream buffers, and a failed file stops being written.
    event: (e) => {
      if (!failed) stream.write(line(e));
    },
    close: () => new Promise<void>((resolve) => stream.end(() => resolve())),
  };
}

function line(e: TcpTraceEvent): string {
  return `${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`;
}
