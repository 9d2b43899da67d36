/**
 * Which files a `tuntcp pkt` invocation runs: files as given, directories
 * walked for `*.pkt` in sorted order. Directories named `pending` (scripts
 * for features the stack does not have yet) and `known-failing` (scripts
 * that show a known bug) are skipped while walking, and run only when named
 * on the command line themselves.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export const SKIPPED_DIRECTORIES: readonly string[] = ['pending', 'known-failing'];

function walk(dir: string, out: string[]): void {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIPPED_DIRECTORIES.includes(e.name)) walk(full, out);
    } else if (e.isFile() && e.name.endsWith('.pkt')) {
      out.push(full);
    }
  }
}

/** Expands files and directories into the scripts to run; throws for a path that does not exist. */
export function collectScripts(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new Error(`${p}: no such file or directory`);
    }
    if (st.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}
