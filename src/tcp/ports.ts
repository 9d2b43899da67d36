/**
 * Ephemeral port selection, RFC 6056 §3.3.1 ("Algorithm 1: Simple Port
 * Randomization"): start at a random point of the range and walk it until a
 * suitable port turns up. Randomizing makes blind in-window attacks need to
 * guess the port as well as the sequence numbers (RFC 6056 §1). `random` is
 * injectable so that tests are repeatable.
 */
export function chooseEphemeralPort(
  min: number,
  max: number,
  random: () => number,
  isSuitable: (port: number) => boolean,
): number | null {
  const count = max - min + 1;
  if (count <= 0) return null;
  let offset = Math.floor(random() * count);
  if (!(offset >= 0 && offset < count)) offset = 0; // a broken random() must not pick outside the range
  for (let i = 0; i < count; i++) {
    const port = min + ((offset + i) % count);
    if (isSuitable(port)) return port;
  }
  return null;
}

const RANDOM_BATCH = 256;
const randomPool = new Uint32Array(RANDOM_BATCH);
let randomLeft = 0;

/**
 * Uniform in [0, 1) from the system CSPRNG, the default `random` of the
 * stack. Port randomization (and the challenge-ACK budget of RFC 5961 §7)
 * only helps if an attacker cannot predict the generator (RFC 6056 §3.3
 * defers to RFC 4086 on randomness); Math.random's xorshift128+ state can be
 * recovered from a few of its outputs.
 */
export function secureRandom(): number {
  if (randomLeft === 0) {
    globalThis.crypto.getRandomValues(randomPool);
    randomLeft = RANDOM_BATCH;
  }
  randomLeft--;
  return randomPool[randomLeft]! / 0x1_0000_0000;
}
