/**
 * `%{ ... }%` code events. packetdrill hands these to Python with the
 * socket's TCP_INFO as `tcpi_*` variables; scripts use them almost only for
 * assertions (`assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd`). We evaluate that
 * subset ourselves — no Python, no process:
 *
 *   statement := assert EXPR [, message] | NAME = EXPR | print(...) | pass
 *   EXPR      := or/and/not, comparisons (chained as in Python), | ^ &,
 *                << >>, + -, * / // %, unary -, ( ), numbers, names,
 *                True/False/None
 *
 * Anything else in a code block makes the script `unsupported: code ...`.
 */

export class CodeUnsupportedError extends Error {
  readonly feature: string;

  constructor(feature: string) {
    super(`unsupported: ${feature}`);
    this.name = 'CodeUnsupportedError';
    this.feature = feature;
  }
}

type Tok = { t: 'num'; v: number } | { t: 'name'; v: string } | { t: 'op'; v: string } | { t: 'str'; v: string };

const OPS = ['==', '!=', '<=', '>=', '//', '<<', '>>', '**', '<', '>', '+', '-', '*', '/', '%', '(', ')', '&', '|', '^', ',', '=', '~'];

function lex(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t') {
      i++;
      continue;
    }
    if (c === '#') break;
    const num = /^(0x[0-9a-fA-F]+|\d+\.\d*|\.\d+|\d+)/.exec(text.slice(i));
    if (num !== null) {
      out.push({ t: 'num', v: Number(num[0]) });
      i += num[0].length;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i));
    if (name !== null) {
      out.push({ t: 'name', v: name[0] });
      i += name[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new CodeUnsupportedError('code: unterminated string');
      out.push({ t: 'str', v: text.slice(i + 1, end) });
      i = end + 1;
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (op === undefined) throw new CodeUnsupportedError(`code: character '${c}'`);
    out.push({ t: 'op', v: op });
    i += op.length;
  }
  return out;
}

export type Resolve = (name: string) => number | undefined;

class ExprParser {
  private i = 0;

  constructor(
    private readonly toks: Tok[],
    private readonly resolve: Resolve,
  ) {}

  get done(): boolean {
    return this.i >= this.toks.length;
  }

  peekOp(...ops: string[]): string | null {
    const t = this.toks[this.i];
    if (t !== undefined && t.t === 'op' && ops.includes(t.v)) return t.v;
    if (t !== undefined && t.t === 'name' && ops.includes(t.v)) return t.v;
    return null;
  }

  take(): Tok {
    const t = this.toks[this.i++];
    if (t === undefined) throw new CodeUnsupportedError('code: incomplete expression');
    return t;
  }

  expr(): number {
    let v = this.and();
    while (this.peekOp('or') !== null) {
      this.i++;
      const r = this.and();
      v = v !== 0 ? v : r;
    }
    return v;
  }

  and(): number {
    let v = this.not();
    while (this.peekOp('and') !== null) {
      this.i++;
      const r = this.not();
      v = v === 0 ? v : r;
    }
    return v;
  }

  not(): number {
    if (this.peekOp('not') !== null) {
      this.i++;
      return this.not() === 0 ? 1 : 0;
    }
    return this.comparison();
  }

  comparison(): number {
    let left = this.bitOr();
    let result = 1;
    let any = false;
    for (;;) {
      const op = this.peekOp('==', '!=', '<', '<=', '>', '>=');
      if (op === null) break;
      this.i++;
      const right = this.bitOr();
      any = true;
      const ok =
        op === '==' ? left === right : op === '!=' ? left !== right : op === '<' ? left < right : op === '<=' ? left <= right : op === '>' ? left > right : left >= right;
      if (!ok) result = 0;
      left = right;
    }
    return any ? result : left;
  }

  bitOr(): number {
    let v = this.bitXor();
    while (this.peekOp('|') !== null) {
      this.i++;
      v = Number(BigInt(Math.trunc(v)) | BigInt(Math.trunc(this.bitXor())));
    }
    return v;
  }

  bitXor(): number {
    let v = this.bitAnd();
    while (this.peekOp('^') !== null) {
      this.i++;
      v = Number(BigInt(Math.trunc(v)) ^ BigInt(Math.trunc(this.bitAnd())));
    }
    return v;
  }

  bitAnd(): number {
    let v = this.shift();
    while (this.peekOp('&') !== null) {
      this.i++;
      v = Number(BigInt(Math.trunc(v)) & BigInt(Math.trunc(this.shift())));
    }
    return v;
  }

  shift(): number {
    let v = this.sum();
    for (;;) {
      const op = this.peekOp('<<', '>>');
      if (op === null) return v;
      this.i++;
      const r = BigInt(Math.trunc(this.sum()));
      v = Number(op === '<<' ? BigInt(Math.trunc(v)) << r : BigInt(Math.trunc(v)) >> r);
    }
  }

  sum(): number {
    let v = this.term();
    for (;;) {
      const op = this.peekOp('+', '-');
      if (op === null) return v;
      this.i++;
      const r = this.term();
      v = op === '+' ? v + r : v - r;
    }
  }

  term(): number {
    let v = this.unary();
    for (;;) {
      const op = this.peekOp('*', '/', '//', '%');
      if (op === null) return v;
      this.i++;
      const r = this.unary();
      if (op === '*') v *= r;
      else if (op === '/') v /= r;
      else if (op === '//') v = Math.floor(v / r);
      else v = v - r * Math.floor(v / r); // Python's modulo takes the divisor's sign
    }
  }

  unary(): number {
    const op = this.peekOp('-', '+', '~');
    if (op !== null) {
      this.i++;
      const v = this.unary();
      return op === '-' ? -v : op === '~' ? -Math.trunc(v) - 1 : v;
    }
    return this.power();
  }

  power(): number {
    const base = this.primary();
    if (this.peekOp('**') !== null) {
      this.i++;
      return base ** this.unary();
    }
    return base;
  }

  primary(): number {
    const t = this.take();
    if (t.t === 'num') return t.v;
    if (t.t === 'op' && t.v === '(') {
      const v = this.expr();
      const close = this.take();
      if (close.t !== 'op' || close.v !== ')') throw new CodeUnsupportedError("code: expected ')'");
      return v;
    }
    if (t.t === 'name') {
      if (t.v === 'True') return 1;
      if (t.v === 'False' || t.v === 'None') return 0;
      const next = this.toks[this.i];
      if (next !== undefined && next.t === 'op' && next.v === '(') throw new CodeUnsupportedError(`code: function call ${t.v}()`);
      const v = this.resolve(t.v);
      if (v === undefined) throw new CodeUnsupportedError(t.v.startsWith('tcpi_') ? t.v : `code: name ${t.v}`);
      return v;
    }
    throw new CodeUnsupportedError(`code: unexpected ${t.t === 'str' ? 'string' : `'${t.v}'`}`);
  }
}

export type CodeOutcome = { ok: true } | { ok: false; message: string };

/** Splits on newlines and on ';' outside strings (Python allows `a; b`). */
function statements(code: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | null = null;
  for (const ch of code) {
    if (quote !== null) {
      cur += ch;
      if (ch === quote) quote = null;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      cur += ch;
      continue;
    }
    if (ch === '\n' || ch === ';') {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out.map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#'));
}

/**
 * Runs the statements in order; stops at the first failed assertion.
 * Throws CodeUnsupportedError for anything outside the subset.
 */
export function runCode(code: string, resolve: Resolve): CodeOutcome {
  const locals = new Map<string, number>();
  const lookup: Resolve = (name) => locals.get(name) ?? resolve(name);
  for (const stmt of statements(code)) {
    if (stmt === 'pass' || /^print\s*\(/.test(stmt) || /^import\s/.test(stmt)) continue;
    const assign = /^([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)(.*)$/.exec(stmt);
    if (assign !== null) {
      const p = new ExprParser(lex(assign[2]!), lookup);
      const v = p.expr();
      if (!p.done) throw new CodeUnsupportedError(`code: ${stmt}`);
      locals.set(assign[1]!, v);
      continue;
    }
    const m = /^assert\b(.*)$/.exec(stmt);
    if (m === null) throw new CodeUnsupportedError(`code: ${stmt.split(/\s/)[0]}`);
    const toks = lex(m[1]!);
    const p = new ExprParser(toks, lookup);
    const v = p.expr();
    if (!p.done && p.peekOp(',') === null) throw new CodeUnsupportedError(`code: ${stmt}`);
    if (v === 0) {
      const cond = m[1]!.split(',')[0]!.trim();
      const names = [...new Set(toks.filter((t): t is { t: 'name'; v: string } => t.t === 'name' && t.v.startsWith('tcpi_')).map((t) => t.v))];
      const values = names.map((n) => `${n} = ${String(lookup(n))}`).join(', ');
      return { ok: false, message: `assertion failed: ${cond}${values === '' ? '' : ` (${values})`}` };
    }
  }
  return { ok: true };
}
