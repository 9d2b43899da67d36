import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { namespaceExists } from '../../tun/namespace.ts';
import { findExecutable } from '../../tun/prerequisites.ts';
import { log } from '../log.ts';

interface ExecOptions {
  netns: string;
  cmd: string[] | undefined;
  '--'?: (string | number)[];
}

/** Exit status for tuntcp's own failures, as env(1) and `docker run` use: 125, not the command's. */
export const EXEC_FAILED = 125;

/**
 * `tuntcp exec -- CMD...`: runs a command on the kernel's side of the TUN,
 * inside the namespace (`ip netns exec`), with the terminal and the exit
 * status passed straight through.
 */
export const execCommand: CommandModule<object, ExecOptions> = {
  command: 'exec [cmd..]',
  describe: "run a command inside the stack's network namespace (the kernel's side of the TUN), e.g. curl",
  builder: (y) =>
    y
      .parserConfiguration({ 'populate--': true })
      .positional('cmd', { type: 'string', array: true, describe: 'the command and its arguments (put them after --)' })
      .option('netns', { type: 'string', default: 'tuntcp', describe: 'network namespace to run the command in' })
      .example('$0 exec -- curl http://10.0.0.2/', "fetch the greeting from tuntcp serve's HTTP server")
      .example('$0 exec -- nc 10.0.0.2 7', 'talk to the echo service')
      .example('$0 exec --netns lab -- ss -tin', "the kernel's view of the same connections"),
  handler: async (argv) => {
    const cmd = [...(argv.cmd ?? []), ...(argv['--'] ?? []).map(String)];
    const fail = (message: string, code = EXEC_FAILED): never => {
      log.error(message);
      process.exit(code);
    };
    if (cmd.length === 0) fail('name a command to run, after --: tuntcp exec -- curl http://10.0.0.2/', 2);
    const ip = findExecutable('ip');
    if (ip === undefined) fail("the 'ip' command is missing (install iproute2)");
    if (process.geteuid?.() !== 0) fail('entering a network namespace needs root (CAP_SYS_ADMIN): run it with sudo');
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(argv.netns) || !namespaceExists(argv.netns)) {
      fail(`network namespace ${argv.netns} does not exist: start it with tuntcp serve${argv.netns === 'tuntcp' ? '' : ` --netns ${argv.netns}`}`);
    }
    const program = cmd[0]!;
    if (!program.includes(path.sep) && findExecutable(program) === undefined) fail(`${program}: command not found`, 127);

    const child = spawn(ip!, ['netns', 'exec', argv.netns, ...cmd], { stdio: 'inherit' });
    // Ctrl-C reaches the child through the terminal's process group; a signal
    // sent to us alone (kill PID) is passed on. Either way we wait for it.
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => forward(s));
    const code = await new Promise<number>((resolve) => {
      child.once('error', (err) => {
        log.error(`${program}: ${err.message}`);
        resolve(EXEC_FAILED);
      });
      child.once('exit', (status, signal) => {
        if (status !== null) resolve(status);
        else resolve(128 + (signal ? (osConstants.signals[signal] ?? 0) : 0));
      });
    });
    process.exit(code);
  },
};
