/**
 * Optional observation of the TCP core for `tuntcp serve --trace`: what a
 * student wants to see happen without reading a capture — state changes,
 * timers firing, queues overflowing. The core calls the tracer synchronously
 * when one is installed (`Tcp.trace`) and builds no event otherwise. Events
 * carry no time: the core's clock is whatever the driver passes in, and the
 * sink stamps each line with wall-clock time as it writes it.
 */
import type { Ipv4Address } from '../ip/address.ts';
import { formatIpv4 } from '../ip/address.ts';
import type { TcpState } from './api.ts';

export type TcpTimerName = 'retransmit' | 'persist' | 'delayed-ack' | 'keepalive' | 'time-wait';

export type TcpTraceEvent =
  | { event: 'state'; conn: string; from: TcpState; to: TcpState }
  | { event: 'timer'; conn: string; timer: TcpTimerName; state: TcpState }
  /** A SYN dropped because the listener's SYN queue was full. */
  | { event: 'syn-queue-overflow'; listener: string }
  /** A SYN dropped because the accept queue was already full. */
  | { event: 'syn-dropped-accept-queue-full'; listener: string; from: string }
  /** A handshake's final ACK dropped because the accept queue was full. */
  | { event: 'accept-queue-overflow'; listener: string };

export type TcpTracer = (event: TcpTraceEvent) => void;

/** `10.0.0.2:80-10.0.0.1:43006`, our end first. */
export function connectionName(local: Ipv4Address, localPort: number, remote: Ipv4Address, remotePort: number): string {
  return `${formatIpv4(local)}:${localPort}-${formatIpv4(remote)}:${remotePort}`;
}
