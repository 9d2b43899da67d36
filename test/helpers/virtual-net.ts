import { parseIpv4 } from '../../src/ip/address.ts';
import { createMemoryLinkPair, type MemoryLink } from '../../src/link/memory-link.ts';
import { ImpairedLink } from '../../src/link/impair.ts';
import { parseImpairSpec } from '../../src/link/impair-spec.ts';
import type { Link } from '../../src/link/link.ts';
import { VirtualScheduler } from '../../src/link/virtual-scheduler.ts';
import { createNet, type TuntcpNet } from '../../src/socket/net.ts';
import { createStack, type StackParts } from '../../src/stack/create-stack.ts';
import type { TcpConfig } from '../../src/tcp/config.ts';

export interface VirtualHost extends StackParts {
  address: string;
  net: TuntcpNet;
  link: MemoryLink;
}

export interface VirtualNetOptions {
  mtu?: number;
  latencyMs?: number;
  tcpA?: Partial<TcpConfig>;
  tcpB?: Partial<TcpConfig>;
  /** Impairment between host A and the wire (see src/link/impair-spec.ts). */
  impairA?: string;
  /** Impairment between host B and the wire: with both, each direction is impaired twice. */
  impairB?: string;
  /** Segmentation and checksum offload on the wire (MemoryLinkOptions.offload). */
  offload?: boolean;
}

/**
 * Two complete stacks (IP + TCP + sockets) joined by an in-memory link on a
 * virtual clock. Node's streams still need the real event loop for their
 * nextTick/microtask bookkeeping, so `run` alternates: let the event loop
 * settle, then run the virtual events of the next instant.
 */
export class VirtualNet {
  readonly scheduler = new VirtualScheduler();
  readonly a: VirtualHost;
  readonly b: VirtualHost;
  /** The impairment layers, for their counters (null when not impaired). */
  readonly impairA: ImpairedLink | null;
  readonly impairB: ImpairedLink | null;

  constructor(options: VirtualNetOptions = {}) {
    const [linkA, linkB] = createMemoryLinkPair({
      scheduler: this.scheduler,
      mtu: options.mtu ?? 1500,
      latencyMs: options.latencyMs ?? 1,
      offload: options.offload ?? false,
    });
    let wireA: Link = linkA;
    if (options.impairA) wireA = new ImpairedLink(linkA, this.scheduler, parseImpairSpec(options.impairA));
    let wireB: Link = linkB;
    if (options.impairB) wireB = new ImpairedLink(linkB, this.scheduler, parseImpairSpec(options.impairB));
    this.a = this.host('10.0.0.1', wireA, linkA, options.tcpA);
    this.b = this.host('10.0.0.2', wireB, linkB, options.tcpB);
    this.impairA = wireA instanceof ImpairedLink ? wireA : null;
    this.impairB = wireB instanceof ImpairedLink ? wireB : null;
  }

  private host(address: string, link: Link, memoryLink: MemoryLink, tcp: Partial<TcpConfig> | undefined): VirtualHost {
    const parts = createStack({ address: parseIpv4(address), link, scheduler: this.scheduler, ...(tcp ? { tcp } : {}) });
    return { ...parts, address, net: createNet(parts.driver), link: memoryLink };
  }

  now(): number {
    return this.scheduler.now();
  }

  /** Runs `ms` of virtual time. */
  async run(ms: number): Promise<void> {
    const end = this.scheduler.now() + ms;
    await this.runWhile(() => true, end);
  }

  /**
   * Runs virtual time until `done()` holds; fails if it does not within
   * `maxMs` of virtual time (a stalled transfer must fail, not hang).
   */
  async until(done: () => boolean, maxMs = 600_000): Promise<void> {
    const end = this.scheduler.now() + maxMs;
    await this.runWhile(() => !done(), end);
    if (!done()) throw new Error(`condition not reached within ${maxMs} ms of virtual time (now ${this.now()})`);
  }

  private async runWhile(cont: () => boolean, end: number): Promise<void> {
    for (let guard = 0; guard < 10_000_000; guard++) {
      await settle();
      if (!cont()) return;
      const next = this.scheduler.nextEventTime;
      if (next > end) {
        this.scheduler.runUntil(end);
        await settle();
        return;
      }
      // Every event of this instant, then back to the event loop.
      this.scheduler.runUntil(next);
    }
    throw new Error('VirtualNet: too many steps');
  }
}

/** Lets nextTick callbacks, microtasks and stream bookkeeping run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
