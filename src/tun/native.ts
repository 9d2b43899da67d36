/**
 * Loads the native TUN addon (src/tun/tun_addon.cc, built by `npm install`
 * through binding.gyp) and describes its shape to TypeScript.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../build/Release/tuntcp_tun.node', import.meta.url));

/**
 * An error from the TUN layer. `code` is an errno name (`ENOENT`, `EPERM`,
 * `EBUSY`, `EINVAL`, ...) when the kernel refused something, or an
 * `ERR_TUN_*` code for our own conditions; the message is one line that says
 * what is missing.
 */
export class TunError extends Error {
  readonly code: string;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;

  constructor(code: string, message: string, options?: { errno?: number; syscall?: string }) {
    super(message);
    this.name = 'TunError';
    this.code = code;
    this.errno = options?.errno;
    this.syscall = options?.syscall;
  }
}

export interface NativeOpenOptions {
  name: string;
  /** A name under /var/run/netns or an absolute path to a namespace file. */
  netns?: string;
  /**
   * IFF_VNET_HDR: every packet crosses the fd behind a 10-byte virtio-net
   * header; the addon turns it into the offload word (src/link/offload.ts)
   * and back, so JavaScript never sees the header.
   */
  vnetHdr?: boolean;
  /** TUNSETOFFLOAD flags (TUN_F_*), only with vnetHdr. */
  offload?: number;
}

/** <linux/if_tun.h>: the kernel may hand us partial checksums and take ours. */
export const TUN_F_CSUM = 0x01;
/** <linux/if_tun.h>: TCP/IPv4 segmentation offload, both ways (needs TUN_F_CSUM). */
export const TUN_F_TSO4 = 0x02;

export interface NativeTunStats {
  packetsRead: number;
  bytesRead: number;
  batches: number;
  readErrors: number;
  packetsWritten: number;
  bytesWritten: number;
  /** Packets that met EAGAIN (or a non-empty queue) and waited in the write queue. */
  writeQueued: number;
  /** Packets dropped because the write queue was full or the device closed. */
  writeDropped: number;
  /** Packets write(2) refused for good (malformed, device gone). */
  writeErrors: number;
  /** Packets waiting in the write queue now. */
  queueLength: number;
}

/**
 * `onRead(count, errno)` is called once per batch: packet i is
 * `meta[3i]` (offset) and `meta[3i + 1]` (length) bytes into `arena`, valid
 * until the callback returns; `meta[3i + 2]` is its offload word. A non-zero errno means reading failed and has
 * stopped; `count` packets read before the failure are still delivered.
 */
export type NativeReadCallback = (count: number, errno: number) => void;

export interface NativeTunHandle {
  readonly name: string;
  readonly mtu: number;
  readonly netns: string | null;
  readonly vnetHdr: boolean;
  readonly arena: ArrayBuffer;
  readonly meta: Uint32Array;
  start(onRead: NativeReadCallback): void;
  /** `offload`: the packet's offload word; non-zero only on a vnetHdr device (else the packet is refused and counted). */
  write(packet: Uint8Array, offload?: number): void;
  writeBatch(packets: readonly Uint8Array[], offload?: ArrayLike<number>): void;
  close(): void;
  ref(): void;
  unref(): void;
  stats(): NativeTunStats;
  /** Test hook: the next `attempts` write(2) calls act as if they got EAGAIN. */
  debugBlockWrites(attempts: number): void;
}

export interface NativeTunModule {
  open(options: NativeOpenOptions): NativeTunHandle;
  readonly maxBatch: number;
  readonly arenaBytes: number;
  readonly maxQueuedPackets: number;
  /** Entries per packet in `meta` (3). */
  readonly metaStride: number;
}

let cached: NativeTunModule | undefined;

export function isNativeAddonBuilt(): boolean {
  return existsSync(NATIVE_ADDON_PATH);
}

/** Loads the addon once; throws a TunError saying how to build it if it is missing. */
export function loadNativeTun(): NativeTunModule {
  if (cached) return cached;
  if (process.platform !== 'linux') {
    throw new TunError('ERR_TUN_UNSUPPORTED', `TUN devices need Linux (this is ${process.platform})`);
  }
  if (!isNativeAddonBuilt()) {
    throw new TunError(
      'ERR_TUN_ADDON_NOT_BUILT',
      'the tuntcp native addon is not built: run `npm install` (needs g++, make, python3)',
    );
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(NATIVE_ADDON_PATH) as NativeTunModule;
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new TunError(
      'ERR_TUN_ADDON_LOAD',
      `the tuntcp native addon failed to load (${reason}): rebuild it with \`npx node-gyp rebuild\``,
    );
  }
  return cached;
}

/** Turns whatever the addon threw into a TunError, keeping code, errno and syscall. */
export function toTunError(err: unknown): TunError {
  if (err instanceof TunError) return err;
  if (err instanceof Error) {
    const fields = err as Error & { code?: unknown; errno?: unknown; syscall?: unknown };
    const code = typeof fields.code === 'string' ? fields.code : err instanceof TypeError ? 'ERR_INVALID_ARG_TYPE' : 'ERR_TUN';
    const options: { errno?: number; syscall?: string } = {};
    if (typeof fields.errno === 'number') options.errno = fields.errno;
    if (typeof fields.syscall === 'string') options.syscall = fields.syscall;
    return new TunError(code, err.message, options);
  }
  return new TunError('ERR_TUN', String(err));
}
