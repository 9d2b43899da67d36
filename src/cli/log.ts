/**
 * The CLI's voice: one line per message on stderr, so stdout stays free for
 * data (`--pcap -` streams a capture there).
 */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

let current: LogLevel = 'info';

export function setLogLevel(level: LogLevel): void {
  current = level;
}

function enabled(level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf(current);
}

export const log = {
  error: (msg: string) => enabled('error') && process.stderr.write(`tuntcp: ${msg}\n`),
  warn: (msg: string) => enabled('warn') && process.stderr.write(`tuntcp: warning: ${msg}\n`),
  info: (msg: string) => enabled('info') && process.stderr.write(`${msg}\n`),
  debug: (msg: string) => enabled('debug') && process.stderr.write(`tuntcp: debug: ${msg}\n`),
};

/** An error whose message is meant for the user as it is: printed as one line, no stack. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
