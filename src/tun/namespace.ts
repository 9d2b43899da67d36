/**
 * TypeScript face of scripts/setup-tun.sh, for the CLI and the test
 * fixtures: one place knows how a namespace with its TUN device is made.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SETUP_SCRIPT_PATH = fileURLToPath(new URL('../../scripts/setup-tun.sh', import.meta.url));
const NETNS_RUN_DIR = '/var/run/netns';
const SCRIPT_TIMEOUT_MS = 20_000;

export interface NamespaceOptions {
  netns: string;
  dev: string;
  /** The kernel's side of the link, e.g. `10.0.0.1/24`. */
  kernelAddr: string;
  mtu: number;
  txqueuelen: number;
}

export const DEFAULT_NAMESPACE: NamespaceOptions = {
  netns: 'tuntcp',
  dev: 'tun0',
  kernelAddr: '10.0.0.1/24',
  mtu: 1500,
  txqueuelen: 500,
};

/** The script failed; the message is its one line, without command echo or stack. */
export class NamespaceSetupError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number) {
    super(message);
    this.name = 'NamespaceSetupError';
    this.exitCode = exitCode;
    // A CLI prints err.stack by habit; the script's line is all there is to say.
    this.stack = `${this.name}: ${message}`;
  }
}

/** Creates (or reconfigures) the namespace and its TUN device. */
export function setupNamespace(options: Partial<NamespaceOptions> = {}): NamespaceOptions {
  const o = { ...DEFAULT_NAMESPACE, ...options };
  runScript([
    'up',
    '--netns', o.netns,
    '--dev', o.dev,
    '--addr', o.kernelAddr,
    '--mtu', String(o.mtu),
    '--txqueuelen', String(o.txqueuelen),
  ]);
  return o;
}

/** Removes the namespace and the TUN devices in it; fine if it does not exist. */
export function teardownNamespace(netns: string = DEFAULT_NAMESPACE.netns): void {
  runScript(['down', '--netns', netns]);
}

export function namespaceExists(name: string): boolean {
  if (name.length === 0 || name.includes('/') || name === '.' || name === '..') return false;
  return existsSync(`${NETNS_RUN_DIR}/${name}`);
}

function runScript(args: string[]): string {
  try {
    // Through bash explicitly: a checkout may have lost the executable bit.
    return execFileSync('bash', [SETUP_SCRIPT_PATH, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: SCRIPT_TIMEOUT_MS,
    });
  } catch (err) {
    throw scriptFailure(err, args[0] ?? '');
  }
}

function scriptFailure(err: unknown, command: string): NamespaceSetupError {
  const fields = (err ?? {}) as { stderr?: unknown; status?: unknown; signal?: unknown; code?: unknown };
  const stderr = typeof fields.stderr === 'string' ? fields.stderr : '';
  const line = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .at(-1);
  const status = typeof fields.status === 'number' ? fields.status : 1;
  if (line !== undefined) return new NamespaceSetupError(line, status);
  if (fields.code === 'ENOENT') return new NamespaceSetupError('setup-tun.sh: bash is not installed', 127);
  if (typeof fields.signal === 'string') {
    return new NamespaceSetupError(`setup-tun.sh ${command}: stopped by ${fields.signal} (timeout?)`, status);
  }
  return new NamespaceSetupError(`setup-tun.sh ${command}: failed with exit status ${status}`, status);
}
