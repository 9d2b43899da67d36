/**
 * Prints the functions with the most self time in a V8 CPU profile (the
 * `.cpuprofile` that `node --cpu-prof` writes), busiest first.
 *
 *   npx tsx bench/profile-top.ts FILE.cpuprofile [--top 15]
 *
 * Self time is what the sampler saw running in the function itself, not in
 * what it called: the place where a fast path would save cycles. Percentages
 * are of the busy time (the process's idle time, waiting in epoll, left out).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTimeRow {
  name: string;
  location: string;
  selfMs: number;
  /** Share of the busy (non-idle) time, percent. */
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  rows: SelfTimeRow[];
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function location(frame: CallFrame): string {
  if (frame.url === '') return '';
  let file = frame.url.startsWith('file://') ? fileURLToPath(frame.url) : frame.url;
  if (file.startsWith(REPO_ROOT + path.sep)) file = path.relative(REPO_ROOT, file);
  // V8's line numbers are 0-based; code tsx compiled reports line 0 for
  // every function (its output is not line-preserving), so a file is all we know.
  return frame.lineNumber > 0 ? `${file}:${frame.lineNumber + 1}` : file;
}

/**
 * Self time per function (same name and place summed over all call paths).
 * `window` ([from, to] in microseconds of CLOCK_MONOTONIC, the clock of both
 * V8's profile timestamps and process.hrtime) keeps only the samples taken
 * during the measurement, leaving start-up and shutdown out.
 */
export function summarizeProfile(profile: CpuProfile, top = 15, window?: readonly [number, number]): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  if (samples.length > 0 && deltas.length === samples.length) {
    // timeDeltas[i] is the time since the previous sample; it belongs to the
    // sample before it, the code that was running during that interval.
    let t = profile.startTime;
    for (let i = 0; i < samples.length; i++) {
      t += deltas[i]!;
      if (window !== undefined && (t < window[0] || t > window[1])) continue;
      const next = deltas[i + 1] ?? 0;
      selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + Math.max(0, next));
    }
  } else {
    const totalHits = profile.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
    const per = totalHits > 0 ? (profile.endTime - profile.startTime) / totalHits : 0;
    for (const n of profile.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * per);
  }
  const byFunction = new Map<string, { name: string; location: string; us: number }>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    totalUs += us;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') {
      idleUs += us;
      continue;
    }
    const loc = location(node.callFrame);
    const key = `${name}@${loc}`;
    const entry = byFunction.get(key) ?? { name, location: loc, us: 0 };
    entry.us += us;
    byFunction.set(key, entry);
  }
  const busyUs = Math.max(1, totalUs - idleUs);
  const rows = [...byFunction.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, location: e.location, selfMs: e.us / 1000, percent: (100 * e.us) / busyUs }));
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, busyMs: busyUs / 1000, rows };
}

export function formatSummary(s: ProfileSummary): string {
  const lines = [
    `profile: ${s.totalMs.toFixed(0)} ms sampled, ${s.busyMs.toFixed(0)} ms busy (${((100 * s.busyMs) / Math.max(1, s.totalMs)).toFixed(0)}%), ${s.idleMs.toFixed(0)} ms idle`,
    '',
    '| # | self % of busy | self ms | function | where |',
    '|---:|---:|---:|---|---|',
    ...s.rows.map((r, i) => `| ${i + 1} | ${r.percent.toFixed(1)} | ${r.selfMs.toFixed(0)} | \`${r.name}\` | ${r.location} |`),
  ];
  return lines.join('\n');
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' } } });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write('usage: tsx bench/profile-top.ts FILE.cpuprofile [--top 15]\n');
    process.exit(2);
  }
  console.log(formatSummary(summarizeProfile(readProfile(file), Number(values.top))));
}
