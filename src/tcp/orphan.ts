/**
 * Connections the application has let go of (close(2) on a kernel socket,
 * `Connection.detach`): the TCB lives on to finish the close, but nobody
 * will read or write it again. Three rules follow.
 *
 * - FIN-WAIT-2 is bounded. Our FIN is acknowledged and we wait only for the
 *   peer's; a peer that never sends it would hold the TCB forever. Linux
 *   frees an orphan after tcp_fin_timeout (60 s) in FIN-WAIT-2, silently;
 *   so do we (`finWait2TimeoutMs`). The timer is the TIME-WAIT slot, which
 *   FIN-WAIT-2 does not otherwise use (Linux, too, parks such a connection
 *   as a time-wait socket in its FIN_WAIT2 substate). A connection the
 *   application still holds after shutdown() may stay half-closed as long as
 *   it likes: that is its right under RFC 9293.
 * - New data is answered with RST (RFC 1122 §4.2.2.13: "if new data is
 *   received after CLOSE is called, its TCP SHOULD send a RST to show that
 *   data was lost"; Linux counts it as TCPAbortOnData).
 * - A zero window does not hold it for ever. A connection the application
 *   holds probes a shut window as long as the peer answers (RFC 1122
 *   §4.2.2.17); an orphan gets `orphanRetries` probes, answered or not, then
 *   an RST, and a peer that shrank its window over data in flight no longer
 *   excuses its retransmission timeouts (timers.ts; Linux tcp_probe_timer
 *   and tcp_retransmit_timer treat orphans, SOCK_DEAD, the same way).
 */
import type { Connection } from './connection.ts';
import { sendReset } from './output.ts';

/** close(2): shutdown, then no application any more. Unread data means RST (RFC 1122 §4.2.2.13). */
export function detachConnection(c: Connection, now: number): void {
  if (c.detached || c.state === 'CLOSED') return;
  if (c.readableLength > 0) {
    c.host.stats.abortOnData++;
    c.abort(now);
    return;
  }
  c.detached = true;
  c.shutdown(now);
  if (c.state === 'FIN-WAIT-2') armFinWait2Timer(c, now);
}

/** Our FIN was acknowledged: an orphan may now wait `finWait2TimeoutMs` for the peer's. */
export function armFinWait2Timer(c: Connection, now: number): void {
  if (!c.detached) return;
  c.timers.timeWait = now + c.host.config.finWait2TimeoutMs;
  c.host.timerArmed(c);
}

/** New text arrived for an orphan: reset (the application will never read it). */
export function dataAfterClose(c: Connection): void {
  c.host.stats.abortOnData++;
  sendReset(c);
  c.terminate(null);
}
