/**
 * Congestion control algorithms by name, as Linux's tcp_register_congestion_control:
 * a connection asks for one by name (per socket, or the stack's default) and
 * gets a fresh instance. A third algorithm is one `registerCongestionControl`
 * call away; the state machine never names an algorithm.
 */
import type { CongestionControl, CongestionControlFactory } from './congestion-control.ts';
import { Cubic } from './cubic.ts';
import { NewReno } from './newreno.ts';

/** The algorithms built in. Any other registered name is accepted too. */
export type BuiltinCongestionControl = 'newreno' | 'cubic';

/**
 * The stack's default. CUBIC, as Linux (and Windows, and macOS): the peer we
 * are most often compared with runs it, so a side-by-side measurement
 * compares stacks rather than algorithms. NewReno stays one option away.
 */
export const DEFAULT_CONGESTION_CONTROL: BuiltinCongestionControl = 'cubic';

const factories = new Map<string, CongestionControlFactory>([
  ['newreno', (mss) => new NewReno(mss)],
  ['cubic', (mss) => new Cubic(mss)],
]);

export function registerCongestionControl(name: string, factory: CongestionControlFactory): void {
  if (!/^[a-z0-9_-]{1,32}$/.test(name)) throw new RangeError(`congestion control name ${JSON.stringify(name)}: use a-z, 0-9, '-', '_'`);
  factories.set(name, factory);
}

export function hasCongestionControl(name: string): boolean {
  return factories.has(name);
}

export function congestionControlNames(): string[] {
  return [...factories.keys()];
}

/** A new instance of `name`; throws RangeError naming the known ones for anything else. */
export function createCongestionControl(name: string, mss: number): CongestionControl {
  const factory = factories.get(name);
  if (factory === undefined) {
    throw new RangeError(`unknown congestion control ${JSON.stringify(name)} (known: ${congestionControlNames().join(', ')})`);
  }
  return factory(mss);
}
