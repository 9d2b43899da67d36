/**
 * A small seeded generator for repeatable impairment: sfc32 (Chris Doty-
 * Humphrey's Small Fast Counting generator, from PractRand), 128 bits of
 * state, passes PractRand and BigCrush, and fits in 32-bit integer math.
 *
 * Math.random cannot be seeded, and a repeatable run is the whole point: the
 * same seed must lose the same packets so a failure can be replayed.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /**
   * `stream` picks an independent sequence for the same seed, so each
   * impairment of each direction draws from its own stream and enabling one
   * (say, dup) does not shift which packets another (say, loss) hits.
   */
  constructor(seed: number, stream = 0) {
    // State from splitmix32 over (seed, stream), as the sfc32 author advises
    // for seeding: nearby seeds give unrelated states.
    let s = (Math.trunc(seed) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    // Discard the first outputs: the counter-based state needs a few rounds
    // to mix.
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }

  /** True with probability `p`. Always draws, so the stream stays aligned whatever p is. */
  chance(p: number): boolean {
    return this.nextFloat() < p;
  }
}

/**
 * mulberry32 (Tommy Ettinger): 32 bits of state, uniform in [0, 1). Enough
 * where a sequence only has to be the same every run (the packetdrill
 * runner's ephemeral ports, randomized tests); the impairment layer uses
 * the stronger, stream-splittable Prng above.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
