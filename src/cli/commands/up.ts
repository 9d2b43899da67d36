import type { CommandModule } from 'yargs';
import { describeTunStack, openTunStack, type TunStack } from '../../stack/tun-stack.ts';
import { log, setLogLevel } from '../log.ts';
import { withStackOptions, type StackCliOptions, tunStackOptionsFrom } from '../options.ts';
import { runUntilSignal } from '../signals.ts';

/**
 * `tuntcp up`: the foundation's demo — the stack answers ping through a TUN
 * device in its own namespace until Ctrl-C, then removes everything it made.
 */
export const upCommand: CommandModule<object, StackCliOptions> = {
  command: 'up',
  describe: 'bring the stack up on a TUN device in a network namespace and answer ping until Ctrl-C',
  builder: (y) =>
    withStackOptions(y).example(
      '$0 up --pcap up.pcap',
      'then, in another terminal: sudo ip netns exec tuntcp ping 10.0.0.2',
    ),
  handler: async (argv) => {
    setLogLevel(argv['log-level']);
    let stack: TunStack;
    try {
      stack = await openTunStack({
        ...tunStackOptionsFrom(argv),
        dev: argv.dev,
      });
    } catch (err) {
      log.error(err instanceof Error ? err.message : String(err));
      process.exit(1);
    }
    log.info(describeTunStack(stack));
    log.info(`try: sudo ip netns exec ${argv.netns} ping ${argv.addr}   (Ctrl-C stops and cleans up)`);
    await runUntilSignal({
      graceful: () => stack.close(),
      immediate: () => stack.closeNow(),
    });
    const s = stack.stack.stats;
    log.info(`stopped; namespace ${argv.netns} removed. ${JSON.stringify(s)}`);
    process.exit(0);
  },
};
