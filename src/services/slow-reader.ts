import type { Socket } from '../socket/net.ts';

/** How often the reader gets its next allowance of bytes. */
const TICK_MS = 100;

/**
 * Makes the application behind `socket` a slow reader: it takes at most
 * `bytesPerSecond` bytes per second out of the receive buffer, on average.
 *
 * It works the way a real slow application does — by not reading: the
 * socket is paused whenever the application has used up its allowance, and
 * resumed on a timer when the allowance is positive again. While paused, the
 * socket stops pulling from the receive ring, the ring fills, and the window
 * we advertise closes; `tuntcp ss` shows the ring full and the window at 0.
 *
 * Reads come in the chunks the socket hands over (up to 64 KiB, what was in
 * the ring), so the allowance may go negative: the reader then sits out as
 * many ticks as that chunk was worth. The average stays at the rate; the
 * window opens in steps rather than smoothly, as with any application that
 * reads big blocks.
 *
 * Whoever else pauses and resumes the socket (Node's http for its own
 * back-pressure, pipe()) still can: this only adds pauses of its own.
 */
export function throttleReads(socket: Socket, bytesPerSecond: number): void {
  const perTick = Math.max(1, (bytesPerSecond * TICK_MS) / 1000);
  let allowance = perTick;
  let pausedByUs = false;
  socket.on('data', (chunk: Buffer) => {
    allowance -= chunk.length;
    if (allowance <= 0 && !pausedByUs) {
      pausedByUs = true;
      socket.pause();
    }
  });
  const timer = setInterval(() => {
    // No saving up while idle: at most one tick's worth in hand.
    allowance = Math.min(perTick, allowance + perTick);
    if (pausedByUs && allowance > 0) {
      pausedByUs = false;
      socket.resume();
    }
  }, TICK_MS);
  socket.once('close', () => clearInterval(timer));
}
