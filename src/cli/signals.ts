/**
 * Waits for SIGINT or SIGTERM, then runs the graceful shutdown. A second
 * signal during a graceful shutdown runs the immediate one and exits at once
 * (still cleaning up what must not be left behind: the namespace).
 */
export function runUntilSignal(handlers: { graceful: () => Promise<void>; immediate: () => void }): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        handlers.immediate();
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
      stopping = true;
      handlers.graceful().then(resolve, (err: unknown) => {
        process.stderr.write(`tuntcp: shutdown: ${err instanceof Error ? err.message : String(err)}\n`);
        handlers.immediate();
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
