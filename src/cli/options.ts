import type { Argv } from 'yargs';
import type { TunStackOptions } from '../stack/tun-stack.ts';
import { LOG_LEVELS, type LogLevel } from './log.ts';

/** Options every command that brings up a stack shares (`up`, `serve`, `get`). */
export interface StackCliOptions {
  netns: string;
  dev: string;
  addr: string;
  'kernel-addr': string;
  mtu: number;
  txqueuelen: number;
  offload: boolean;
  pcap: string | undefined;
  impair: string | undefined;
  'log-level': LogLevel;
}

export function withStackOptions<T>(y: Argv<T>): Argv<T & StackCliOptions> {
  return y
    .option('netns', {
      type: 'string',
      default: 'tuntcp',
      describe: 'network namespace that holds the TUN device and the kernel side (created, and removed on exit)',
    })
    .option('dev', { type: 'string', default: 'tun0', describe: 'TUN device name inside the namespace' })
    .option('addr', { type: 'string', default: '10.0.0.2', describe: "the stack's own IPv4 address" })
    .option('kernel-addr', {
      type: 'string',
      default: '10.0.0.1/24',
      describe: "the kernel side's address and prefix on the TUN (the stack's address must be in this subnet)",
    })
    .option('mtu', { type: 'number', default: 1500, describe: 'MTU of the TUN device (576..65535)' })
    .option('txqueuelen', {
      type: 'number',
      default: 1000,
      describe: 'queue length of the TUN device (packets the kernel holds for us before dropping)',
    })
    .option('offload', {
      type: 'boolean',
      default: true,
      describe:
        'segmentation and checksum offload through IFF_VNET_HDR (TSO/GRO): the kernel and the stack exchange TCP super-packets of up to 64 KB that stand for MTU-sized segments; --pcap still shows the segments. --no-offload: one packet per segment',
    })
    .option('pcap', {
      type: 'string',
      // Without this yargs reads a lone "-" (stdout) as a stray positional.
      requiresArg: true,
      describe: 'write every packet the stack receives and sends to this pcap file; "-" streams to stdout (… --pcap - | wireshark -k -i -)',
    })
    .option('impair', {
      type: 'string',
      describe:
        'impair traffic between the TUN and the stack, e.g. "loss=2%,delay=20ms,jitter=5ms,reorder=5%,dup=1%,corrupt=0.1%,rate=10mbit,seed=42"; prefix items with in: or out: for one direction',
    })
    .option('log-level', { choices: LOG_LEVELS, default: 'info' as LogLevel, describe: 'how much to say on stderr' }) as Argv<
    T & StackCliOptions
  >;
}

/** The part of `openTunStack`'s options that comes straight from the shared CLI options. */
export function tunStackOptionsFrom(
  argv: Omit<StackCliOptions, 'dev' | 'log-level'>,
): Pick<TunStackOptions, 'netns' | 'address' | 'kernelAddress' | 'mtu' | 'txqueuelen' | 'offload' | 'pcap' | 'impair'> {
  return {
    netns: argv.netns,
    address: argv.addr,
    kernelAddress: argv['kernel-addr'],
    mtu: argv.mtu,
    txqueuelen: argv.txqueuelen,
    offload: argv.offload,
    pcap: argv.pcap,
    impair: argv.impair,
  };
}
