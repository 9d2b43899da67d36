import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { collectScripts } from '../../src/pkt/files.ts';
import { runScript } from '../../src/pkt/runner.ts';

/**
 * Our packetdrill corpus (test/pkt) as part of the suite: every script
 * outside pending/ and known-failing/ must pass against the core, in virtual
 * time. A failure names the script and the line, with both packets.
 */
const CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../pkt');
const scripts = collectScripts([CORPUS]);

describe('packetdrill corpus (test/pkt)', () => {
  it('has at least 80 scripts, none of them pending or known-failing', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(80);
    expect(scripts.filter((s) => /[/\\](pending|known-failing)[/\\]/.test(s))).toEqual([]);
  });

  it.each(scripts.map((s) => [path.relative(CORPUS, s), s]))('%s', (_name, file) => {
    const result = runScript(readFileSync(file, 'utf8'));
    expect(result).toEqual({ status: 'pass' });
  });
});
