/**
 * The request/response server of the bench, one handler for both worlds: it
 * runs on Node's `net` (the kernel's TCP, for the veth and slirp4netns paths)
 * and on tuntcp's socket API unchanged, so the three paths differ only in
 * the TCP stack underneath.
 *
 * Every byte that arrives goes straight back (an echo with Nagle off): one
 * byte of request, one byte of reply; a connection the client opens and
 * never uses costs only what the stack itself keeps for it.
 */
import type { Duplex } from 'node:stream';

/** What both `net.Socket` and tuntcp's `Socket` offer. */
export interface RrSocket extends Duplex {
  setNoDelay(noDelay?: boolean): unknown;
}

export function serveRr(socket: RrSocket): void {
  // A one-byte reply must leave at once, not wait for the ACK of the last one.
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    socket.write(chunk);
  });
}
