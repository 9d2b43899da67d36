import type { Ipv4Address } from '../ip/address.ts';
import type { Link } from '../link/link.ts';
import type { Scheduler } from '../link/scheduler.ts';
import type { TcpConfig } from '../tcp/config.ts';
import { Tcp } from '../tcp/tcp.ts';
import { Driver } from './driver.ts';
import { Stack } from './stack.ts';

export interface StackParts {
  stack: Stack;
  tcp: Tcp;
  driver: Driver;
}

export interface CreateStackOptions {
  address: Ipv4Address;
  link: Link;
  scheduler: Scheduler;
  tcp?: Partial<TcpConfig>;
}

/**
 * Assembles the layers: IP (Stack) with TCP registered on it, driven over a
 * link on a scheduler. The same assembly serves the TUN device on real time
 * and the in-memory link on virtual time.
 */
export function createStack(options: CreateStackOptions): StackParts {
  const { link, scheduler } = options;
  const stack = new Stack(
    { address: options.address },
    (packet, offload) => link.send(packet, offload),
    (packets, offload) => link.sendBatch(packets, offload),
  );
  const tcp = new Tcp({
    localAddress: options.address,
    mtu: link.mtu,
    offloadMaxSize: link.offloadMaxSize ?? 0,
    send: (packet, offload) => stack.send(packet, offload),
    config: options.tcp ?? {},
  });
  stack.addTransport(tcp);
  const driver = new Driver(stack, tcp, link, scheduler);
  return { stack, tcp, driver };
}
