/**
 * How results are shown: one line per script (`pass  path`, `fail  path:
 * line N: ...`, `unsupported  path: feature`), a summary line, or the same
 * as JSON for tools.
 */
import type { ScriptResult } from './runner.ts';

export interface NamedResult {
  path: string;
  result: ScriptResult;
}

export interface Summary {
  passed: number;
  failed: number;
  unsupported: number;
}

export function summarize(results: readonly NamedResult[]): Summary {
  const s: Summary = { passed: 0, failed: 0, unsupported: 0 };
  for (const { result } of results) {
    if (result.status === 'pass') s.passed++;
    else if (result.status === 'fail') s.failed++;
    else s.unsupported++;
  }
  return s;
}

export function formatResultLine({ path, result }: NamedResult): string {
  switch (result.status) {
    case 'pass':
      return `pass  ${path}`;
    case 'fail':
      return `fail  ${path}: ${result.line === null ? '' : `line ${result.line}: `}${result.message}`;
    case 'unsupported':
      return `unsupported  ${path}: ${result.feature}`;
  }
}

export function formatSummary(s: Summary): string {
  return `${s.passed} passed, ${s.failed} failed, ${s.unsupported} unsupported`;
}

export function toJson(results: readonly NamedResult[]): string {
  return JSON.stringify(
    {
      results: results.map(({ path, result }) => ({ path, ...result })),
      summary: summarize(results),
    },
    null,
    2,
  );
}
