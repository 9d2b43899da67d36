import { parseCidr, parseIpv4, sameSubnet, formatIpv4 } from '../ip/address.ts';
import type { Link } from '../link/link.ts';
import { realTimeScheduler } from '../link/scheduler.ts';
import { ImpairedLink } from '../link/impair.ts';
import { parseImpairSpec } from '../link/impair-spec.ts';
import { CaptureLink } from '../pcap/capture-link.ts';
import { PcapWriter } from '../pcap/pcap-writer.ts';
import type { TcpConfig } from '../tcp/config.ts';
import { checkTunPrerequisites } from '../tun/prerequisites.ts';
import { setupNamespace, teardownNamespace } from '../tun/namespace.ts';
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
  /** pcap file path, "-" for stdout, or undefined for no capture. */
  pcap?: string | undefined;
  /** Impairment spec (see src/link/impair-spec.ts). */
  impair?: string | undefined;
  tcp?: Partial<TcpConfig>;
}

export interface TunStack extends StackParts {
  device: TunDevice;
  options: TunStackOptions;
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

  setupNamespace({
    netns: options.netns,
    dev: options.dev,
    kernelAddr: options.kernelAddress,
    mtu: options.mtu,
    txqueuelen: options.txqueuelen,
  });
  let device: TunDevice | undefined;
  let pcap: PcapWriter | undefined;
  try {
    device = TunDevice.open({ name: options.dev, netns: options.netns });
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
    const dev = device;
    let closed = false;
    const closeNow = (): void => {
      if (closed) return;
      closed = true;
      parts.driver.close();
      teardownNamespace(options.netns);
    };
    return {
      ...parts,
      device: dev,
      options,
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
    teardownNamespace(options.netns);
    throw err;
  }
}

export function describeTunStack(s: TunStack): string {
  const o = s.options;
  return `tuntcp ${o.address} is up on ${o.dev} (mtu ${s.device.mtu}) in network namespace ${o.netns}; the kernel side is ${formatIpv4(parseCidr(o.kernelAddress).address)}`;
}
