import { execFileSync } from 'node:child_process';
import { parseCidr, parseIpv4, sameSubnet, formatIpv4 } from '../ip/address.ts';
import type { Link } from '../link/link.ts';
import { realTimeScheduler } from '../link/scheduler.ts';
import { ImpairedLink } from '../link/impair.ts';
import { parseImpairSpec } from '../link/impair-spec.ts';
import { CaptureLink } from '../pcap/capture-link.ts';
import { PcapWriter } from '../pcap/pcap-writer.ts';
import type { TcpConfig } from '../tcp/config.ts';
import type { TcpTracer } from '../tcp/trace.ts';
import { checkTunPrerequisites, findExecutable } from '../tun/prerequisites.ts';
import { namespaceExists, setupNamespace, teardownNamespace } from '../tun/namespace.ts';
import { TunDevice } from '../tun/tun-device.ts';
import { createStack, type StackParts } from './create-stack.ts';

export interface TunStackOptions {
  netns: string;
  dev: string;
  /** The stack's own address, e.g. "10.0.0.2". */
  address: string;
  /** The kernel side's address with prefix, e.g. "10.0.0.1/24". */
  kernelAddress: string;
  mtu: number;
  txqueuelen: number;
  /**
   * Segmentation and checksum offload through IFF_VNET_HDR (TunDevice):
   * TCP super-packets both ways. Default true. With `impair`, which must
   * act on single segments, what we send stays single segments
   * (ImpairedLink offers no offload) and what the kernel hands us is cut
   * into its segments first.
   */
  offload?: boolean | undefined;
  /** pcap file path, "-" for stdout, or undefined for no capture. */
  pcap?: string | undefined;
  /** Impairment spec (see src/link/impair-spec.ts). */
  impair?: string | undefined;
  tcp?: Partial<TcpConfig>;
  /**
   * Who owns the namespace. 'own' (default): it must not exist yet; it is
   * created here and removed on close — an existing one is refused, because
   * it may be another running tuntcp's and tearing it down would kill that
   * instance. 'join': an existing namespace (e.g. one a test or a user made,
   * with a kernel server already running in it) gets only our TUN device,
   * and close removes only that device; a missing one is created and removed
   * as with 'own'.
   */
  namespace?: 'own' | 'join';
  /** Receives the TCP core's trace events (`tuntcp serve --trace`). */
  trace?: TcpTracer | undefined;
}

export interface TunStack extends StackParts {
  device: TunDevice;
  options: TunStackOptions;
  /** False when the namespace existed and was joined: close() removes only our device. */
  ownsNamespace: boolean;
  /** Closes the device and capture, removes the namespace. Safe to call twice. */
  close(): Promise<void>;
  /** The synchronous part of close(), for a second Ctrl-C: no waiting on the capture. */
  closeNow(): void;
}

/** Checks options that need no privileges, so bad input fails before anything is created. */
export function validateTunStackOptions(o: TunStackOptions): void {
  const own = parseIpv4(o.address);
  const kernel = parseCidr(o.kernelAddress);
  if (kernel.prefix > 30) throw new Error(`--kernel-addr ${o.kernelAddress}: the prefix must leave room for the stack's address (at most /30)`);
  if (!sameSubnet(own, kernel.address, kernel.prefix)) {
    throw new Error(`--addr ${o.address} is outside the TUN subnet ${o.kernelAddress}`);
  }
  if (own === kernel.address) throw new Error(`--addr ${o.address} is the kernel side's own address`);
  if (!Number.isInteger(o.mtu) || o.mtu < 576 || o.mtu > 65535) throw new Error(`--mtu ${o.mtu}: must be an integer from 576 to 65535`);
  if (!Number.isInteger(o.txqueuelen) || o.txqueuelen < 1 || o.txqueuelen > 1_000_000) {
    throw new Error(`--txqueuelen ${o.txqueuelen}: must be an integer from 1 to 1000000`);
  }
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(o.netns)) throw new Error(`--netns ${JSON.stringify(o.netns)}: use letters, digits, '.', '_' or '-'`);
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(o.dev)) throw new Error(`--dev ${JSON.stringify(o.dev)}: at most 15 letters, digits, '.', '_' or '-'`);
  if (o.impair !== undefined) parseImpairSpec(o.impair);
}

/**
 * Brings a stack up on a real TUN device inside its own network namespace:
 * namespace and device (scripts/setup-tun.sh), the device opened from inside
 * the namespace, optional capture and impairment, and the core on real time.
 * Anything created is removed again if a later step fails.
 */
export async function openTunStack(options: TunStackOptions): Promise<TunStack> {
  validateTunStackOptions(options);
  const problems = checkTunPrerequisites();
  if (problems.length > 0) throw new Error(problems.join('; '));

  // Claim the namespace before touching anything in it; from here on `remove`
  // undoes exactly what this process made and nothing else.
  const ownsNamespace = claimNamespace(options);
  const remove = (): void => {
    if (ownsNamespace) teardownNamespace(options.netns);
    else removeDevice(options.netns, options.dev);
  };
  try {
    setupNamespace({
      netns: options.netns,
      dev: options.dev,
      kernelAddr: options.kernelAddress,
      mtu: options.mtu,
      txqueuelen: options.txqueuelen,
    });
  } catch (err) {
    bestEffort(remove);
    throw err;
  }
  let device: TunDevice | undefined;
  let pcap: PcapWriter | undefined;
  try {
    device = TunDevice.open({ name: options.dev, netns: options.netns, offload: options.offload !== false });
    // The capture sits next to the device, so it shows what crossed the wire;
    // the impairment layer sits between the wire and the stack.
    let link: Link = device;
    if (options.pcap !== undefined) {
      pcap = options.pcap === '-' ? PcapWriter.toStdout() : PcapWriter.toFile(options.pcap);
      link = new CaptureLink(link, pcap, () => Date.now());
    }
    if (options.impair !== undefined) link = new ImpairedLink(link, realTimeScheduler, parseImpairSpec(options.impair));
    const parts = createStack({
      address: parseIpv4(options.address),
      link,
      scheduler: realTimeScheduler,
      ...(options.tcp ? { tcp: options.tcp } : {}),
    });
    if (options.trace) parts.tcp.trace = options.trace;
    const dev = device;
    let closed = false;
    const closeNow = (): void => {
      if (closed) return;
      closed = true;
      parts.driver.close();
      remove();
    };
    return {
      ...parts,
      device: dev,
      options,
      ownsNamespace,
      closeNow,
      async close() {
        if (closed) return;
        closeNow();
        await pcap?.close();
      },
    };
  } catch (err) {
    device?.close();
    await pcap?.close().catch(() => undefined);
    // The first failure is the one to report, not a cleanup's.
    bestEffort(remove);
    throw err;
  }
}

function bestEffort(step: () => void): void {
  try {
    step();
  } catch {
    // already reporting the error that made us clean up
  }
}

/**
 * Makes sure this process may use the namespace, and says whether it owns it
 * (and so removes it on close). Creating it with `ip netns add` is the atomic
 * claim: two instances started at once cannot both succeed.
 */
function claimNamespace(o: TunStackOptions): boolean {
  const exists = namespaceExists(o.netns);
  if (exists && o.namespace === 'join') {
    checkJoinable(o);
    return false;
  }
  if (exists) throw new Error(describeExistingNamespace(o.netns));
  try {
    ip(['netns', 'add', o.netns]);
  } catch (err) {
    if (namespaceExists(o.netns)) throw new Error(describeExistingNamespace(o.netns));
    throw new Error(`could not create network namespace ${o.netns}: ${firstLine(err)}`);
  }
  return true;
}

/** One line that says whether a live tuntcp holds the namespace or it is a leftover. */
function describeExistingNamespace(netns: string): string {
  const attached = tunDevices(netns).filter((d) => d.attached);
  if (attached.length > 0) {
    return (
      `network namespace ${netns} is in use by another running tuntcp (its TUN device ${attached[0]!.name} is attached); ` +
      `stop that one first, or choose another name with --netns`
    );
  }
  return `network namespace ${netns} already exists (left behind by a killed tuntcp?): remove it with 'ip netns del ${netns}', or choose another name with --netns`;
}

/** Joining: our device name must be free and our subnet unused in that namespace. */
function checkJoinable(o: TunStackOptions): void {
  if (tunDevices(o.netns).some((d) => d.name === o.dev) || deviceExists(o.netns, o.dev)) {
    throw new Error(`device ${o.dev} already exists in network namespace ${o.netns}; choose another with --dev`);
  }
  const kernel = parseCidr(o.kernelAddress);
  for (const a of namespaceAddresses(o.netns)) {
    if (a.dev === 'lo') continue;
    if (sameSubnet(a.address, kernel.address, Math.min(a.prefix, kernel.prefix))) {
      throw new Error(
        `network namespace ${o.netns} already has ${formatIpv4(a.address)}/${a.prefix} on ${a.dev} (another tuntcp?): ` +
          `give this stack a subnet of its own, e.g. --kernel-addr 10.0.1.1/24 --addr 10.0.1.2`,
      );
    }
  }
}

/** A device name (`tun0`, `tun1`, ...) that does not exist in `netns` yet. */
export function freeTunDeviceName(netns: string, prefix = 'tun'): string {
  if (!namespaceExists(netns)) return `${prefix}0`;
  const taken = new Set(linkNames(netns));
  for (let i = 0; i < 256; i++) if (!taken.has(`${prefix}${i}`)) return `${prefix}${i}`;
  throw new Error(`no free device name ${prefix}0..${prefix}255 in network namespace ${netns}`);
}

function ip(args: string[]): string {
  // `ip` lives in sbin, which a non-login root shell's PATH may lack.
  return execFileSync(findExecutable('ip') ?? 'ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
}

function linkNames(netns: string): string[] {
  try {
    return ip(['-n', netns, '-o', 'link', 'show'])
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined);
  } catch {
    return [];
  }
}

function deviceExists(netns: string, dev: string): boolean {
  return linkNames(netns).includes(dev);
}

/** TUN devices in `netns`; `attached` when a process holds the device open (carrier up). */
function tunDevices(netns: string): { name: string; attached: boolean }[] {
  try {
    return ip(['-n', netns, '-o', 'link', 'show', 'type', 'tun'])
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)[^<]*<([^>]*)>/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[1]!, attached: !m[2]!.split(',').includes('NO-CARRIER') && m[2]!.split(',').includes('LOWER_UP') }));
  } catch {
    return [];
  }
}

function namespaceAddresses(netns: string): { dev: string; address: number; prefix: number }[] {
  try {
    return ip(['-n', netns, '-o', '-4', 'addr', 'show'])
      .split('\n')
      .map((l) => /^\d+:\s+(\S+)\s+inet\s+(\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ dev: m[1]!, address: parseIpv4(m[2]!), prefix: Number(m[3]) }));
  } catch {
    return [];
  }
}

/** Removes only our device from a namespace we joined; fine if it is already gone. */
function removeDevice(netns: string, dev: string): void {
  if (!namespaceExists(netns) || !deviceExists(netns, dev)) return;
  ip(['-n', netns, 'tuntap', 'del', 'dev', dev, 'mode', 'tun']);
}

function firstLine(err: unknown): string {
  const e = err as { stderr?: unknown; message?: unknown };
  const text = typeof e.stderr === 'string' && e.stderr.trim() !== '' ? e.stderr : String(e.message ?? err);
  return text.trim().split('\n')[0] ?? 'failed';
}

export function describeTunStack(s: TunStack): string {
  const o = s.options;
  const where = s.ownsNamespace ? `network namespace ${o.netns}` : `network namespace ${o.netns} (joined: only ${o.dev} is removed on exit)`;
  return `tuntcp ${o.address} is up on ${o.dev} (mtu ${s.device.mtu}) in ${where}; the kernel side is ${formatIpv4(parseCidr(o.kernelAddress).address)}`;
}
