import type { IpStats } from '../../stack/stats.ts';
import type { ListenerInfo, TcpInfo } from '../../tcp/api.ts';

/** A listener as `tuntcp ss` shows it: its queues, and which service owns it. */
export interface ListenerSnapshot extends ListenerInfo {
  service: string | null;
}

/**
 * Everything `tuntcp ss` and `GET /stats` show about a running stack, as one
 * JSON object. `version` changes when a field changes meaning.
 */
export interface Snapshot {
  version: 1;
  pid: number;
  netns: string;
  address: string;
  /** Wall-clock time of the snapshot, ms since the epoch. */
  time: number;
  uptimeMs: number;
  ip: IpStats;
  tcp: Record<string, number>;
  listeners: ListenerSnapshot[];
  connections: TcpInfo[];
}

export interface SnapshotSource {
  netns: string;
  address: string;
  startedAt: number;
  ipStats(): IpStats;
  tcpStats(): object;
  listeners(): Iterable<{ getInfo(): ListenerInfo }>;
  connections(): Iterable<{ getInfo(): TcpInfo }>;
  /** Service name by local port. */
  serviceByPort: ReadonlyMap<number, string>;
}

export function takeSnapshot(src: SnapshotSource): Snapshot {
  const now = Date.now();
  const tcp: Record<string, number> = {};
  for (const [key, value] of Object.entries(src.tcpStats())) if (typeof value === 'number') tcp[key] = value;
  return {
    version: 1,
    pid: process.pid,
    netns: src.netns,
    address: src.address,
    time: now,
    uptimeMs: now - src.startedAt,
    ip: structuredClone(src.ipStats()),
    tcp,
    listeners: [...src.listeners()].map((l) => {
      const info = l.getInfo();
      return { ...info, service: src.serviceByPort.get(info.localPort) ?? null };
    }),
    connections: [...src.connections()].map((c) => c.getInfo()),
  };
}
