import path from 'node:path';

/**
 * Where a running `tuntcp serve` puts its control socket: one Unix socket per
 * namespace, `/run/tuntcp/<netns>.sock` (TUNTCP_RUN_DIR overrides the
 * directory, e.g. for tests or a non-standard /run).
 */
export function runDir(): string {
  return process.env['TUNTCP_RUN_DIR'] ?? '/run/tuntcp';
}

export function controlSocketPath(netns: string): string {
  return path.join(runDir(), `${netns}.sock`);
}

/** The namespace a control socket file belongs to, or undefined if the name is not ours. */
export function netnsOfSocket(file: string): string | undefined {
  const m = /^([A-Za-z0-9_.-]{1,64})\.sock$/.exec(path.basename(file));
  return m?.[1];
}
