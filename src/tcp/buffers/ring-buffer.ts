// A fixed-capacity byte ring, after smoltcp's `storage/ring_buffer.rs`.
//
// It serves both directions of a connection:
// - send queue: `write()` appends application data, `peek(offset)` reads at an
//   offset from SND.UNA for (re)transmission, `discard()` releases bytes once
//   they are acknowledged;
// - receive queue: in-order data is appended with `write()`; out-of-order data
//   is written straight into the free space past the tail with
//   `writeUnallocated()` and committed with `enqueueUnallocated()` once the
//   assembler reports it contiguous. Payload is thus copied exactly once into
//   the ring however it arrives, and out-of-order memory is bounded by the
//   ring's own capacity.
//
// The advertised receive window is `free`, so anything the peer may legally
// send fits in the unallocated space.

/** Upper bound on capacity: far above any sane TCP buffer, and keeps indices in small-integer range. */
const MAX_CAPACITY = 1 << 30;

/**
 * Storage of finished connections, zeroed, by size: a short connection
 * (connect, a byte each way, close) otherwise allocates two fresh 64 KiB rings
 * and leaves them to the GC — at thousands of connections/s that was a quarter
 * of the CPU. Bounded so that a burst of closes does not pin memory.
 */
const POOL_MAX_BYTES = 16 * 1024 * 1024;
const pool = new Map<number, Uint8Array[]>();
let pooledBytes = 0;

export class RingBuffer {
  /**
   * The most bytes it holds: exactly what was asked for, so that a 1000-byte
   * receive buffer advertises at most 1000 bytes (SO_RCVBUF semantics).
   */
  readonly capacity: number;
  /** Backing storage size: the next power of two, so positions wrap with a mask. */
  private readonly storageSize: number;
  private readonly mask: number;
  // Allocated on the first write: 100k idle connections with 64 KiB rings each
  // must not cost 12 GiB before anyone sends a byte.
  private storage: Uint8Array | null = null;
  private head = 0;
  private len = 0;
  /**
   * Storage bytes [0, dirty) may hold data since the storage was taken (zeroed):
   * only those are zeroed again when it goes back to the pool. A short
   * connection writes a few bytes of its 64 KiB rings, and clearing all of
   * them twice per connection showed in the profile.
   */
  private dirty = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(`ring buffer capacity must be an integer in [1, ${MAX_CAPACITY}], got ${capacity}`);
    }
    let cap = 1;
    while (cap < capacity) cap *= 2;
    this.capacity = capacity;
    this.storageSize = cap;
    this.mask = cap - 1;
  }

  /** Bytes stored between head and tail. */
  get length(): number {
    return this.len;
  }

  get free(): number {
    return this.capacity - this.len;
  }

  /** Bytes of backing memory actually held (0 until the first write). */
  get allocatedBytes(): number {
    return this.storage === null ? 0 : this.storage.length;
  }

  isEmpty(): boolean {
    return this.len === 0;
  }

  isFull(): boolean {
    return this.len === this.capacity;
  }

  /** Appends as much of `src` as fits; returns the count written. */
  write(src: Uint8Array): number {
    const n = Math.min(src.length, this.capacity - this.len);
    if (n === 0) return 0;
    this.copyIn((this.head + this.len) & this.mask, src, n);
    this.len += n;
    return n;
  }

  /** Removes up to `dst.length` bytes from the head into `dst`; returns the count. */
  read(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.len);
    if (n === 0) return 0;
    this.copyOut(this.head, dst, n);
    this.advanceHead(n);
    return n;
  }

  /** Drops up to `n` bytes from the head (send queue: bytes acknowledged); returns the count. */
  discard(n: number): number {
    const k = Math.min(Math.max(0, Math.floor(n)), this.len);
    if (k === 0) return 0;
    this.advanceHead(k);
    return k;
  }

  /**
   * Copies stored bytes [offset, offset + dst.length), clipped to `length`,
   * into `dst` without consuming them; returns the count.
   */
  peek(offset: number, dst: Uint8Array): number {
    checkOffset(offset);
    if (offset >= this.len) return 0;
    const n = Math.min(dst.length, this.len - offset);
    if (n === 0) return 0;
    this.copyOut((this.head + offset) & this.mask, dst, n);
    return n;
  }

  /**
   * Writes `src` at `offset` bytes past the tail, into space that is not yet
   * part of the stored bytes, clipped to the free space; returns the count
   * (0 if `offset >= free`).
   */
  writeUnallocated(offset: number, src: Uint8Array): number {
    checkOffset(offset);
    const free = this.capacity - this.len;
    if (offset >= free) return 0;
    const n = Math.min(src.length, free - offset);
    if (n === 0) return 0;
    this.copyIn((this.head + this.len + offset) & this.mask, src, n);
    return n;
  }

  /** Makes the first `n` bytes of unallocated space part of the stored bytes. */
  enqueueUnallocated(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.capacity - this.len) {
      throw new RangeError(`cannot enqueue ${n} unallocated bytes with ${this.free} free`);
    }
    if (n === 0) return;
    // Keeps the invariant "stored bytes imply storage" even if a caller commits
    // space it never wrote (the bytes are then zeros, not a crash).
    this.ensureStorage();
    this.len += n;
  }

  /** Forgets all stored bytes; keeps the backing memory. */
  clear(): void {
    this.head = 0;
    this.len = 0;
  }

  private advanceHead(n: number): void {
    // The head is deliberately NOT reset to 0 when the ring empties: out-of-order
    // bytes may already sit in the unallocated space at tail + offset, and moving
    // the tail would silently misplace them.
    this.head = (this.head + n) & this.mask;
    this.len -= n;
  }

  /**
   * Gives the backing memory back to the shared pool when nothing is stored;
   * the ring stays usable (a later write takes storage again). Only for a
   * ring that no out-of-order bytes can sit in any more (a connection that
   * accepts no data): the head restarts at 0.
   */
  releaseStorage(): void {
    const buf = this.storage;
    if (buf === null || this.len !== 0) return;
    this.storage = null;
    this.head = 0;
    const dirty = this.dirty;
    this.dirty = 0;
    if (pooledBytes + buf.length > POOL_MAX_BYTES) return;
    buf.fill(0, 0, dirty);
    let list = pool.get(buf.length);
    if (list === undefined) pool.set(buf.length, (list = []));
    list.push(buf);
    pooledBytes += buf.length;
  }

  private ensureStorage(): Uint8Array {
    if (this.storage === null) {
      const reused = pool.get(this.storageSize)?.pop();
      if (reused !== undefined) pooledBytes -= reused.length;
      this.storage = reused ?? new Uint8Array(this.storageSize);
    }
    return this.storage;
  }

  /** Copies src[0, n) to ring position `pos`, wrapping: at most two `set` calls. */
  private copyIn(pos: number, src: Uint8Array, n: number): void {
    const buf = this.ensureStorage();
    const first = Math.min(n, this.storageSize - pos);
    buf.set(first === src.length ? src : src.subarray(0, first), pos);
    if (first < n) {
      buf.set(src.subarray(first, n), 0);
      this.dirty = this.storageSize;
    } else if (pos + first > this.dirty) {
      this.dirty = pos + first;
    }
  }

  /** Copies n bytes from ring position `pos` to dst[0, n), wrapping: at most two `set` calls. */
  private copyOut(pos: number, dst: Uint8Array, n: number): void {
    // Only reached with n > 0 bytes stored, so storage exists.
    const buf = this.storage as Uint8Array;
    const first = Math.min(n, this.storageSize - pos);
    dst.set(buf.subarray(pos, pos + first), 0);
    if (first < n) dst.set(buf.subarray(0, n - first), first);
  }
}

function checkOffset(offset: number): void {
  if (!Number.isInteger(offset) || offset < 0) {
    throw new RangeError(`ring buffer offset must be a non-negative integer, got ${offset}`);
  }
}
