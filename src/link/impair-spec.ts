/**
 * The impairment spec the CLI takes, netem-like:
 *
 *   loss=2%,delay=20ms,jitter=5ms,reorder=5%,dup=1%,corrupt=0.1%,rate=10mbit,seed=42
 *
 * Every item applies to both directions unless prefixed `in:` (what the stack
 * receives) or `out:` (what it sends): `in:loss=5%,out:delay=10ms`. A later
 * item overrides an earlier one for the same key and direction, so
 * `loss=1%,in:loss=5%` means 5% in, 1% out.
 *
 * Units, chosen so that no value is ambiguous:
 * - probabilities: `2%`, or a plain fraction below 1 (`0.02`). A plain `1` or
 *   more is refused: `loss=1` could mean 1% or 100%; write `1%` or `100%`.
 * - times: `us`, `ms`, `s`; a bare number is refused except `0` (tc reads a
 *   bare number as microseconds, people mean milliseconds).
 * - rate: `bit`, `kbit`, `mbit`, `gbit` are bits per second (1000-based), and
 *   `bps`, `kbps`, `mbps`, `gbps` are BYTES per second, exactly as tc(8)
 *   spells them. `0` means unlimited.
 * - limit: packets one direction may hold (rate queue + delay line), a count.
 * - seed: an unsigned integer; applies to both directions (no prefix).
 */

export interface ImpairDirection {
  /** Probability each packet is dropped. */
  loss: number;
  /** Probability a packet is sent twice. */
  dup: number;
  /** Probability one random bit of the packet is flipped. */
  corrupt: number;
  /** Probability a packet is held back so that later packets overtake it. */
  reorder: number;
  delayMs: number;
  /** Each packet's delay is delayMs ± jitterMs (uniform), never below 0. */
  jitterMs: number;
  /** Serialization rate in bits per second; 0 means unlimited. */
  rateBps: number;
  /** Packets this direction may hold (rate queue + delay line); tail drop beyond. */
  limit: number;
}

export interface ImpairSpec {
  in: ImpairDirection;
  out: ImpairDirection;
  seed: number;
}

export const DEFAULT_IMPAIR_LIMIT = 10_000;
/** Used when no seed is given: a run without one is still repeatable. */
export const DEFAULT_IMPAIR_SEED = 1;

export function noImpairment(): ImpairDirection {
  return { loss: 0, dup: 0, corrupt: 0, reorder: 0, delayMs: 0, jitterMs: 0, rateBps: 0, limit: DEFAULT_IMPAIR_LIMIT };
}

export function defaultImpairSpec(): ImpairSpec {
  return { in: noImpairment(), out: noImpairment(), seed: DEFAULT_IMPAIR_SEED };
}

/** True when the direction changes nothing: packets go straight through. */
export function isIdentity(d: ImpairDirection): boolean {
  return d.loss === 0 && d.dup === 0 && d.corrupt === 0 && d.reorder === 0 && d.delayMs === 0 && d.jitterMs === 0 && d.rateBps === 0;
}

const NUMBER = String.raw`(\d+(?:\.\d*)?|\.\d+)`;

type Key = 'loss' | 'dup' | 'corrupt' | 'reorder' | 'delay' | 'jitter' | 'rate' | 'limit' | 'seed';

const KEYS: readonly Key[] = ['loss', 'dup', 'corrupt', 'reorder', 'delay', 'jitter', 'rate', 'limit', 'seed'];

/** Parses the CLI syntax; throws an Error whose one-line message names the bad item. */
export function parseImpairSpec(text: string): ImpairSpec {
  const spec = defaultImpairSpec();
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'none') return spec;
  for (const raw of trimmed.split(',')) {
    const item = raw.trim();
    const fail = (why: string): never => {
      throw new Error(`bad impairment ${JSON.stringify(item)}: ${why}`);
    };
    if (item === '') fail('empty item (stray comma?)');
    const m = /^(?:(in|out):)?([a-z]+)=(.*)$/.exec(item);
    if (m === null) fail('expected [in:|out:]key=value');
    const prefix = m![1] as 'in' | 'out' | undefined;
    const key = m![2]!;
    const value = m![3]!.trim();
    if (!(KEYS as readonly string[]).includes(key)) fail(`unknown key "${key}" (known: ${KEYS.join(', ')})`);
    const dirs = prefix === undefined ? [spec.in, spec.out] : [spec[prefix]];
    switch (key as Key) {
      case 'seed': {
        if (prefix !== undefined) fail('seed applies to both directions; drop the prefix');
        if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) fail('seed must be an integer 0..4294967295');
        spec.seed = Number(value);
        break;
      }
      case 'loss':
      case 'dup':
      case 'corrupt':
      case 'reorder': {
        const p = parseProbability(value);
        if (p === null) fail('expected a percentage like 2% or a fraction like 0.02');
        for (const d of dirs) d[key as 'loss' | 'dup' | 'corrupt' | 'reorder'] = p!;
        break;
      }
      case 'delay':
      case 'jitter': {
        const ms = parseTime(value);
        if (ms === null) fail('expected a time like 20ms, 1.5s or 500us');
        for (const d of dirs) d[key === 'delay' ? 'delayMs' : 'jitterMs'] = ms!;
        break;
      }
      case 'rate': {
        const bps = parseRate(value);
        if (bps === null) fail('expected a rate like 10mbit, 500kbit or 1gbit (bps = bytes/s as in tc)');
        for (const d of dirs) d.rateBps = bps!;
        break;
      }
      case 'limit': {
        if (!/^\d+$/.test(value) || Number(value) < 1) fail('limit must be a packet count >= 1');
        for (const d of dirs) d.limit = Number(value);
        break;
      }
    }
  }
  return spec;
}

function parseProbability(value: string): number | null {
  const m = new RegExp(`^${NUMBER}(%?)$`).exec(value);
  if (m === null) return null;
  const n = Number(m[1]);
  if (m[2] === '%') return n <= 100 ? n / 100 : null;
  return n < 1 ? n : null;
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };

function parseTime(value: string): number | null {
  if (value === '0') return 0;
  const m = new RegExp(`^${NUMBER}(us|ms|s)$`).exec(value);
  if (m === null) return null;
  return Number(m[1]) * TIME_UNITS[m[2]!]!;
}

const RATE_UNITS: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  bps: 8,
  kbps: 8e3,
  mbps: 8e6,
  gbps: 8e9,
};

function parseRate(value: string): number | null {
  if (value === '0') return 0;
  const m = new RegExp(`^${NUMBER}([kmg]?bit|[kmg]?bps)$`).exec(value.toLowerCase());
  if (m === null) return null;
  return Number(m[1]) * RATE_UNITS[m[2]!]!;
}

/** The spec in the CLI's own syntax (so a log line can be pasted back), shortest form. */
export function formatImpairSpec(spec: ImpairSpec): string {
  const items: string[] = [];
  const both = formatDirection(spec.in);
  const outItems = formatDirection(spec.out);
  for (const [key, value] of both) {
    if (outItems.get(key) === value) {
      items.push(`${key}=${value}`);
      outItems.delete(key);
    } else {
      items.push(`in:${key}=${value}`);
    }
  }
  for (const [key, value] of outItems) items.push(`out:${key}=${value}`);
  // Without impairment a seed changes nothing; keep the line short.
  if (items.length === 0) return 'none';
  items.push(`seed=${spec.seed}`);
  return items.join(',');
}

function formatDirection(d: ImpairDirection): Map<string, string> {
  const m = new Map<string, string>();
  const pct = (p: number): string => `${round(p * 100)}%`;
  if (d.loss > 0) m.set('loss', pct(d.loss));
  if (d.delayMs > 0) m.set('delay', formatTime(d.delayMs));
  if (d.jitterMs > 0) m.set('jitter', formatTime(d.jitterMs));
  if (d.reorder > 0) m.set('reorder', pct(d.reorder));
  if (d.dup > 0) m.set('dup', pct(d.dup));
  if (d.corrupt > 0) m.set('corrupt', pct(d.corrupt));
  if (d.rateBps > 0) m.set('rate', formatRate(d.rateBps));
  if (d.limit !== DEFAULT_IMPAIR_LIMIT) m.set('limit', String(d.limit));
  return m;
}

function formatTime(ms: number): string {
  if (ms < 1) return `${round(ms * 1000)}us`;
  if (ms >= 1000 && Number.isInteger(ms / 1000)) return `${ms / 1000}s`;
  return `${round(ms)}ms`;
}

function formatRate(bps: number): string {
  if (bps >= 1e9) return `${round(bps / 1e9)}gbit`;
  if (bps >= 1e6) return `${round(bps / 1e6)}mbit`;
  if (bps >= 1e3) return `${round(bps / 1e3)}kbit`;
  return `${round(bps)}bit`;
}

/** 12 significant digits: no float noise like 0.30000000000000004 in a log line. */
function round(n: number): number {
  return Number(n.toPrecision(12));
}
