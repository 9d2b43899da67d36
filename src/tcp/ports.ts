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
