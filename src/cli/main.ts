import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { execCommand } from './commands/exec.ts';
import { getCommand } from './commands/get.ts';
import { pktCommand } from './commands/pkt.ts';
import { serveCommand } from './commands/serve.ts';
import { ssCommand } from './commands/ss.ts';
import { upCommand } from './commands/up.ts';
import { log } from './log.ts';

/**
 * yargs reports an unknown `--no-such-option` as "such-option, suchOption"
 * (a negated boolean, in both spellings): name the words the user typed.
 */
function explainUnknown(msg: string): string {
  const m = /^Unknown arguments?: (.*)$/.exec(msg);
  if (!m) return msg;
  const typed = process.argv.slice(2);
  const shown = new Set<string>();
  for (const name of m[1]!.split(', ')) {
    const token = typed.find((t) => t === `--${name}` || t.startsWith(`--${name}=`) || t === `--no-${name}` || t === name);
    // The camelCase twin of a dashed name finds no token of its own: skip it.
    if (token !== undefined) shown.add(token.split('=')[0]!);
  }
  if (shown.size === 0) return msg;
  const list = [...shown];
  const kind = list.every((t) => t.startsWith('-')) ? 'option' : 'argument';
  return `unknown ${kind}${list.length === 1 ? '' : 's'}: ${list.join(', ')}`;
}

/**
 * `tuntcp` — every command prints one clear line and exits non-zero on bad
 * input; `--help` on any command lists its options with their defaults.
 */
await yargs(hideBin(process.argv))
  .scriptName('tuntcp')
  .usage('$0 <command> [options]\n\nA userspace TCP/IP stack over a Linux TUN device.')
  .command(pktCommand)
  .command(serveCommand)
  .command(getCommand)
  .command(ssCommand)
  .command(execCommand)
  .command(upCommand)
  .demandCommand(1, 'name a command: serve, get, ss, exec or up')
  .strict()
  .recommendCommands()
  .help()
  .alias('h', 'help')
  .version()
  .wrap(Math.min(100, process.stdout.columns || 100))
  .fail((msg, err) => {
    // One line, no stack trace: the message says what is wrong.
    log.error(msg ? `${explainUnknown(msg).replace(/:\s*\n\s*/g, ': ').replace(/\s*\n\s*/g, '; ')} (see tuntcp --help)` : (err?.message ?? 'failed'));
    process.exit(2);
  })
  .parseAsync();
