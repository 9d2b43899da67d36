/**
 * The lexical layer of packetdrill scripts, following packetdrill's
 * `lexer.l` rule for rule where it matters:
 *
 * - `//` and C comments are skipped; `%{ ... }%` is one CODE token;
 *   "..." is a STRING and `...` a BACK_QUOTED command;
 * - `...` is an ELLIPSIS; `--name` an OPTION;
 * - `[-]?[0-9]*[.][0-9]+` is a FLOAT, `[-]?[0-9]+` an INTEGER, `0x..` HEX,
 *   four dotted numbers an IPv4 address (longest match wins, as in flex);
 * - `[a-zA-Z0-9_]+` is a WORD — packetdrill turns some words into reserved
 *   tokens (`ack`, `win`, `mss`, ...); we keep them words and let the parser
 *   look at their text, which accepts the same language;
 * - any other non-blank character is a one-character token.
 *
 * Flex's longest-match rule decides "S." as WORD "S" then '.', ".1" as the
 * FLOAT 0.1 and "1:1001" as INTEGER ':' INTEGER, which is what makes the
 * packet grammar work; the regular expressions below keep those choices.
 */

export type TokenKind =
  | 'ellipsis'
  | 'option'
  | 'float'
  | 'integer'
  | 'hex'
  | 'ipv4'
  | 'word'
  | 'string'
  | 'backquoted'
  | 'code'
  | 'punct'
  | 'eof';

export interface Token {
  kind: TokenKind;
  /** The token's text: for strings, commands and code, the contents without delimiters. */
  text: string;
  /** Numeric value for float/integer/hex. */
  value: number;
  /** 1-based line of the token's first character. */
  line: number;
}

export class PktSyntaxError extends Error {
  readonly line: number;

  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'PktSyntaxError';
    this.line = line;
  }
}

// Sticky regular expressions, tried at the current position; the longest
// match wins and ties go to the earlier entry (flex's rule).
const RULES: ReadonlyArray<readonly [TokenKind, RegExp]> = [
  ['ellipsis', /\.\.\./y],
  ['option', /--[a-zA-Z0-9_]+/y],
  ['ipv4', /[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/y],
  ['float', /-?[0-9]*\.[0-9]+/y],
  ['integer', /-?[0-9]+/y],
  ['hex', /0x[0-9a-fA-F]+/y],
  ['word', /[a-zA-Z0-9_]+/y],
];

function countLines(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/**
 * Splits `source` into tokens. Throws PktSyntaxError for an unterminated
 * string, command, comment or code block.
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    if (c === '\n') {
      line++;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      i++;
      continue;
    }
    if (c === '/' && source[i + 1] === '/') {
      while (i < n && source[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      if (end < 0) throw new PktSyntaxError(line, 'unterminated /* comment');
      line += countLines(source.slice(i, end + 2));
      i = end + 2;
      continue;
    }
    if (c === '%' && source[i + 1] === '{') {
      const end = source.indexOf('}%', i + 2);
      if (end < 0) throw new PktSyntaxError(line, 'unterminated %{ code block');
      // packetdrill strips spaces and tabs (not newlines) from both ends.
      const body = source.slice(i + 2, end).replace(/^[ \t]+|[ \t]+$/g, '');
      tokens.push({ kind: 'code', text: body, value: 0, line });
      line += countLines(source.slice(i, end + 2));
      i = end + 2;
      continue;
    }
    if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < n && source[j] !== c) j += source[j] === '\\' ? 2 : 1;
      if (j >= n) throw new PktSyntaxError(line, c === '"' ? 'unterminated string' : 'unterminated `command`');
      const body = source.slice(i + 1, j);
      tokens.push({ kind: c === '"' ? 'string' : 'backquoted', text: body, value: 0, line });
      line += countLines(body);
      i = j + 1;
      continue;
    }
    let best: TokenKind | null = null;
    let bestLen = 0;
    for (const [kind, re] of RULES) {
      re.lastIndex = i;
      const m = re.exec(source);
      if (m !== null && m[0].length > bestLen) {
        best = kind;
        bestLen = m[0].length;
      }
    }
    if (best !== null) {
      const text = source.slice(i, i + bestLen);
      let value = 0;
      if (best === 'float' || best === 'integer') value = Number(text);
      else if (best === 'hex') value = parseInt(text.slice(2), 16);
      else if (best === 'option') {
        tokens.push({ kind: best, text: text.slice(2), value: 0, line });
        i += bestLen;
        continue;
      }
      tokens.push({ kind: best, text, value, line });
      i += bestLen;
      continue;
    }
    tokens.push({ kind: 'punct', text: c, value: 0, line });
    i++;
  }
  tokens.push({ kind: 'eof', text: '', value: 0, line });
  return tokens;
}
