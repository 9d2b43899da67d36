import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { collectScripts } from '../../pkt/files.ts';
import { PROFILE_NAMES } from '../../pkt/profiles.ts';
import { formatResultLine, formatSummary, summarize, toJson, type NamedResult } from '../../pkt/report.ts';
import { runScript } from '../../pkt/runner.ts';

interface PktOptions {
  paths: string[];
  profile: string;
  json: boolean;
  tolerant: boolean;
  define: string[];
  verbose: boolean;
}

function parseDefines(list: readonly string[]): Record<string, string> {
  const defines: Record<string, string> = {};
  for (const d of list) {
    const eq = d.indexOf('=');
    const name = eq < 0 ? d : d.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`-D ${d}: expected NAME or NAME=value`);
    defines[name] = eq < 0 ? '1' : d.slice(eq + 1);
  }
  return defines;
}

/**
 * `tuntcp pkt`: runs packetdrill scripts against the TCP core, in process and
 * in virtual time (no device, no privileges). One line per script, a
 * summary, exit status 1 when any script failed.
 */
export const pktCommand: CommandModule<object, PktOptions> = {
  command: 'pkt <paths..>',
  describe: 'run packetdrill scripts (.pkt files or directories of them) against the TCP core in virtual time',
  builder: (y) =>
    y
      .positional('paths', { type: 'string', array: true, demandOption: true, describe: 'scripts, or directories searched for *.pkt (pending/ and known-failing/ only when named)' })
      .option('profile', { type: 'string', choices: PROFILE_NAMES as string[], default: 'tuntcp', describe: 'stack defaults the scripts assume' })
      .option('json', { type: 'boolean', default: false, describe: 'print results as JSON on stdout' })
      .option('tolerant', { type: 'boolean', default: false, describe: 'accept TCP options in any order and NOP padding differences; ignore packets left unmatched at the end' })
      .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'print every packet in and out (script form, virtual time) for failing scripts' })
      .option('define', { alias: 'D', type: 'string', array: true, default: [] as string[], describe: 'define a symbol for #ifdef and substitution: -D NAME=value' })
      .example('$0 pkt test/pkt', 'run our corpus')
      .example('$0 pkt --profile linux --tolerant some/linux/tests', 'run scripts written for Linux'),
  handler: (argv) => {
    let files: string[];
    let defines: Record<string, string>;
    try {
      defines = parseDefines(argv.define);
      files = collectScripts(argv.paths);
    } catch (e) {
      process.stderr.write(`tuntcp: ${(e as Error).message}\n`);
      process.exit(2);
    }
    const results: NamedResult[] = [];
    for (const path of files) {
      let source: string;
      try {
        source = readFileSync(path, 'utf8');
      } catch (e) {
        results.push({ path, result: { status: 'fail', line: null, message: `cannot read: ${(e as Error).message}` } });
        continue;
      }
      const trace: string[] = [];
      const result = runScript(source, {
        profile: argv.profile,
        tolerant: argv.tolerant,
        defines,
        ...(argv.verbose ? { trace: (line: string) => trace.push(line) } : {}),
      });
      const named = { path, result };
      results.push(named);
      if (!argv.json) {
        process.stdout.write(`${formatResultLine(named)}\n`);
        if (argv.verbose && result.status === 'fail') process.stdout.write(trace.map((l) => `    ${l}\n`).join(''));
      }
    }
    const summary = summarize(results);
    if (argv.json) process.stdout.write(`${toJson(results)}\n`);
    else process.stdout.write(`${formatSummary(summary)}\n`);
    process.exitCode = summary.failed > 0 ? 1 : 0;
  },
};
