/**
 * What running over a real TUN device needs from the machine, checked up
 * front so that the CLI can say all of it in plain words instead of failing
 * on the first syscall.
 */
import { accessSync, constants as fsConstants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { isNativeAddonBuilt } from './native.ts';

const CAP_NET_ADMIN = 12;
const CAP_SYS_ADMIN = 21;

/** What the checks look at; tests substitute their own machine. */
export interface PrerequisiteProbe {
  euid: number;
  /** Contents of /proc/self/status, or undefined if unreadable. */
  procStatus: string | undefined;
  tunExists: boolean;
  ipPath: string | undefined;
  addonBuilt: boolean;
}

/** Human-readable problems, one sentence each; empty when all is well. */
export function checkTunPrerequisites(probe: PrerequisiteProbe = probeMachine()): string[] {
  const problems: string[] = [];
  const caps = effectiveCapabilities(probe.procStatus);
  // The capability set is the authority; euid 0 only stands in when /proc
  // cannot tell (root in a container may lack CAP_NET_ADMIN).
  const hasCap = (bit: number): boolean => (caps === undefined ? probe.euid === 0 : ((caps >> BigInt(bit)) & 1n) === 1n);
  if (!hasCap(CAP_NET_ADMIN)) {
    problems.push('opening a TUN device needs CAP_NET_ADMIN: run as root, or grant it (setcap / sudo)');
  }
  if (!hasCap(CAP_SYS_ADMIN)) {
    problems.push('creating and entering network namespaces needs CAP_SYS_ADMIN: run as root');
  }
  if (!probe.tunExists) {
    problems.push('the tun driver is missing: /dev/net/tun does not exist (modprobe tun)');
  }
  if (probe.ipPath === undefined) {
    problems.push("the 'ip' command is missing (install iproute2)");
  }
  if (!probe.addonBuilt) {
    problems.push('the tuntcp native addon is not built: run `npm install` (needs g++, make, python3)');
  }
  return problems;
}

export function probeMachine(): PrerequisiteProbe {
  let procStatus: string | undefined;
  try {
    procStatus = readFileSync('/proc/self/status', 'utf8');
  } catch {
    procStatus = undefined;
  }
  return {
    euid: process.geteuid?.() ?? -1,
    procStatus,
    tunExists: existsSync('/dev/net/tun'),
    ipPath: findExecutable('ip'),
    addonBuilt: isNativeAddonBuilt(),
  };
}

/** The CapEff mask from /proc/self/status, or undefined if it is not there. */
export function effectiveCapabilities(procStatus: string | undefined): bigint | undefined {
  const match = procStatus?.match(/^CapEff:\s*([0-9a-fA-F]+)\s*$/m);
  return match?.[1] === undefined ? undefined : BigInt(`0x${match[1]}`);
}

/** Looks `name` up on PATH and in the sbin directories a non-login shell may lack. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}
