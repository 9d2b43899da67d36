/**
 * Connections by their 4-tuple. Two nested maps keyed by numbers, not a
 * string key: remote address + port and local address + port each fit in 48
 * bits, well inside a double's exact integer range, so demultiplexing a
 * segment allocates nothing.
 */
import type { Ipv4Address } from '../ip/address.ts';
import type { Connection } from './connection.ts';

const PORTS = 0x10000;

function endpointKey(address: Ipv4Address, port: number): number {
  return (address >>> 0) * PORTS + port;
}

/** Empty inner maps kept for reuse: bounded, so a scan leaves nothing behind. */
const MAX_SPARE_MAPS = 64;

export class ConnectionTable {
  private readonly byRemote = new Map<number, Map<number, Connection>>();
  /**
   * Every short connection from a new remote port needs an inner map of its
   * own and empties it again when it goes: reusing them saves a Map
   * allocation per connection at thousands of connections per second.
   */
  private readonly spareMaps: Map<number, Connection>[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(localAddress: Ipv4Address, localPort: number, remoteAddress: Ipv4Address, remotePort: number): Connection | undefined {
    return this.byRemote.get(endpointKey(remoteAddress, remotePort))?.get(endpointKey(localAddress, localPort));
  }

  has(localAddress: Ipv4Address, localPort: number, remoteAddress: Ipv4Address, remotePort: number): boolean {
    return this.get(localAddress, localPort, remoteAddress, remotePort) !== undefined;
  }

  add(conn: Connection): void {
    const rk = endpointKey(conn.remoteAddress, conn.remotePort);
    let inner = this.byRemote.get(rk);
    if (inner === undefined) {
      inner = this.spareMaps.pop() ?? new Map();
      this.byRemote.set(rk, inner);
    }
    const lk = endpointKey(conn.localAddress, conn.localPort);
    if (!inner.has(lk)) this.count++;
    inner.set(lk, conn);
  }

  /** Removes `conn` if it is the entry for its 4-tuple. */
  remove(conn: Connection): void {
    const rk = endpointKey(conn.remoteAddress, conn.remotePort);
    const inner = this.byRemote.get(rk);
    if (inner === undefined) return;
    const lk = endpointKey(conn.localAddress, conn.localPort);
    if (inner.get(lk) !== conn) return;
    inner.delete(lk);
    this.count--;
    if (inner.size === 0) {
      this.byRemote.delete(rk);
      if (this.spareMaps.length < MAX_SPARE_MAPS) this.spareMaps.push(inner);
    }
  }

  *values(): IterableIterator<Connection> {
    for (const inner of this.byRemote.values()) yield* inner.values();
  }
}
