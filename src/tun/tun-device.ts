/**
 * The real wire: a Linux TUN device as a Link. Packets are raw IPv4 (no
 * packet-information header). With `offload`, the device is opened with
 * IFF_VNET_HDR and TUN_F_CSUM | TUN_F_TSO4: the kernel hands us its TCP's
 * super-packets unsegmented with partial checksums and takes ours the same
 * way (src/link/offload.ts); the addon converts the virtio-net header to and
 * from the offload word.
 */
import { constants as osConstants } from 'node:os';
import type { Link, PacketBatchHandler } from '../link/link.ts';
import { MAX_SUPER_PACKET } from '../link/offload.ts';
import { loadNativeTun, toTunError, TUN_F_CSUM, TUN_F_TSO4, TunError } from './native.ts';
import type { NativeTunHandle, NativeTunStats } from './native.ts';

export interface TunDeviceOptions {
  /** Interface name, at most 15 characters (e.g. `tun0`). */
  name: string;
  /**
   * Network namespace the device lives in: a name under /var/run/netns (as
   * `scripts/setup-tun.sh up` creates) or an absolute path. Omitted: the
   * process's own namespace.
   */
  netns?: string;
  /** Segmentation and checksum offload through IFF_VNET_HDR (see above). Default false. */
  offload?: boolean;
}

export interface TunStats extends NativeTunStats {
  /** Packets read while no onPackets handler was registered (discarded). */
  packetsUnhandled: number;
}

export type TunErrorHandler = (error: TunError) => void;

const MAX_NAME_LENGTH = 15;

export class TunDevice implements Link {
  readonly name: string;
  readonly mtu: number;
  readonly netns: string | undefined;
  /** Link.offloadMaxSize: 65535 with offload, else 0. */
  readonly offloadMaxSize: number;

  readonly #handle: NativeTunHandle;
  readonly #stride: number;
  /** Offload words of the batch being delivered, reused (valid during the handler, as the packets). */
  readonly #words: Uint32Array;
  #handler: PacketBatchHandler | undefined;
  #errorHandler: TunErrorHandler | undefined;
  #closed = false;
  #unhandled = 0;

  private constructor(handle: NativeTunHandle, netns: string | undefined, stride: number, maxBatch: number) {
    this.#handle = handle;
    this.name = handle.name;
    this.mtu = handle.mtu;
    this.netns = netns;
    this.offloadMaxSize = handle.vnetHdr ? MAX_SUPER_PACKET : 0;
    this.#stride = stride;
    this.#words = new Uint32Array(maxBatch);
  }

  /**
   * Attaches to (or creates) the TUN device `name`, inside `netns` if given.
   * Throws a TunError whose `code` and one-line message say what is missing
   * (the tun driver, CAP_NET_ADMIN, the namespace, a free device).
   *
   * The device starts reading at once and, like a listening server, keeps
   * the process alive until `close()` (or `unref()`).
   */
  static open(opts: TunDeviceOptions): TunDevice {
    if (typeof opts.name !== 'string' || opts.name.length === 0 || opts.name.length > MAX_NAME_LENGTH) {
      throw new TunError(
        'EINVAL',
        `invalid TUN device name '${String(opts.name)}': 1 to ${MAX_NAME_LENGTH} characters, without '/', ':' or spaces`,
      );
    }
    const native = loadNativeTun();
    let handle: NativeTunHandle;
    try {
      handle = native.open({
        name: opts.name,
        ...(opts.netns === undefined ? {} : { netns: opts.netns }),
        ...(opts.offload === true ? { vnetHdr: true, offload: TUN_F_CSUM | TUN_F_TSO4 } : {}),
      });
    } catch (err) {
      throw toTunError(err);
    }
    const device = new TunDevice(handle, opts.netns, native.metaStride, native.maxBatch);
    try {
      handle.start(device.#onRead);
    } catch (err) {
      handle.close();
      throw toTunError(err);
    }
    return device;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Packets sent after close() are discarded and counted in `writeDropped`. */
  send(packet: Uint8Array, offload = 0): void {
    this.#handle.write(packet, offload);
  }

  sendBatch(packets: readonly Uint8Array[], offload?: ArrayLike<number>): void {
    if (packets.length === 0) return;
    this.#handle.writeBatch(packets, offload);
  }

  onPackets(handler: PacketBatchHandler): void {
    this.#handler = handler;
  }

  /**
   * Registers the receiver of read failures (the device was deleted under
   * us, ...); reading has stopped when it is called. Without one, the error
   * is thrown from the event loop, as an 'error' event without a listener is.
   */
  onError(handler: TunErrorHandler): void {
    this.#errorHandler = handler;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = undefined;
    this.#errorHandler = undefined;
    this.#handle.close();
  }

  /** Lets the process exit while the device is open (as `server.unref()`). */
  unref(): this {
    this.#handle.unref();
    return this;
  }

  ref(): this {
    this.#handle.ref();
    return this;
  }

  stats(): TunStats {
    return { ...this.#handle.stats(), packetsUnhandled: this.#unhandled };
  }

  /**
   * Test hook: the next `attempts` writes meet EAGAIN, sending packets
   * through the bounded write queue.
   */
  debugBlockWrites(attempts: number): void {
    this.#handle.debugBlockWrites(attempts);
  }

  // Called by the addon once per batch. The views alias the addon's reused
  // arena, which is why Link says they are only valid during the handler.
  readonly #onRead = (count: number, errno: number): void => {
    if (this.#closed) return;
    if (count > 0) {
      const handler = this.#handler;
      if (handler === undefined) {
        this.#unhandled += count;
      } else {
        const arena = this.#handle.arena;
        const meta = this.#handle.meta;
        const stride = this.#stride;
        const words = this.#words;
        const packets = new Array<Uint8Array>(count);
        for (let i = 0; i < count; i++) {
          packets[i] = new Uint8Array(arena, meta[stride * i]!, meta[stride * i + 1]!);
          words[i] = meta[stride * i + 2]!;
        }
        handler(packets, words);
      }
    }
    if (errno !== 0 && !this.#closed) this.#readFailed(errno);
  };

  #readFailed(errno: number): void {
    const code = errnoName(errno);
    const hint = code === 'EBADF' || code === 'EBADFD' ? ': was the device deleted?' : '';
    const error = new TunError(code, `reading TUN device '${this.name}' failed (${code}${hint}); it stopped reading`, {
      errno: -errno,
      syscall: 'read',
    });
    const handler = this.#errorHandler;
    if (handler === undefined) throw error;
    handler(error);
  }
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) {
    if (value === errno) return name;
  }
  return `errno ${errno}`;
}
