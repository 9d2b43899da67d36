import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { serveCommand } from './commands/serve.ts';
import { upCommand } from './commands/up.ts';
import { log } from './log.ts';

/**
 * `tuntcp` — every command prints one clear line and exits non-zero on bad
 * input; `--help` on any command lists its options with their defaults.
 */
await yargs(hideBin(process.argv))
  .scriptName('tuntcp')
  .usage('$0 <command> [options]\n\nA userspace TCP/IP stack over a Linux TUN device.')
  .command(serveCommand)
  .command(upCommand)
  .demandCommand(1, 'name a command (see tuntcp --help)')
  .strict()
  .recommendCommands()
  .help()
  .alias('h', 'help')
  .version()
  .wrap(Math.min(100, process.stdout.columns || 100))
  .fail((msg, err) => {
    // One line, no stack trace: the message says what is wrong.
    log.error(msg ?? err?.message ?? 'failed');
    if (msg) process.stderr.write('(see tuntcp --help)\n');
    process.exit(2);
  })
  .parseAsync();
