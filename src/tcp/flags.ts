/** The control bits of the TCP header (RFC 9293 §3.1, RFC 3168 for ECE/CWR). */
export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;
export const ECE = 0x40;
export const CWR = 0x80;

// Letters as tests and traces spell them. 'A' rather than packetdrill's '.'
// so that a flag string is a plain set of letters: "SA", "FA", "PA", "R".
const LETTERS: ReadonlyArray<readonly [string, number]> = [
  ['S', SYN],
  ['F', FIN],
  ['R', RST],
  ['P', PSH],
  ['A', ACK],
  ['U', URG],
  ['E', ECE],
  ['C', CWR],
];

/** "SA" -> SYN|ACK. Order does not matter; '.' is accepted for ACK (packetdrill). */
export function parseFlags(text: string): number {
  let flags = 0;
  for (const ch of text) {
    if (ch === '.') {
      flags |= ACK;
      continue;
    }
    const entry = LETTERS.find(([letter]) => letter === ch.toUpperCase());
    if (entry === undefined) throw new TypeError(`unknown TCP flag letter ${JSON.stringify(ch)} in ${JSON.stringify(text)}`);
    flags |= entry[1];
  }
  return flags;
}

/** SYN|ACK -> "SA", in a fixed order; no flags -> "-". */
export function formatFlags(flags: number): string {
  let text = '';
  for (const [letter, bit] of LETTERS) if ((flags & bit) !== 0) text += letter;
  return text === '' ? '-' : text;
}
