import type { TcpApi } from '../tcp/api.ts';

/**
 * What the socket layer needs from whoever drives the sans-I/O core: the TCP
 * API, the current time, and a way to say "I just used the core outside of
 * input()/poll(), re-arm your timer and flush what it sent".
 *
 * Two implementations: the TUN driver (real clock, one Node timer) and the
 * virtual network used by tests (virtual clock).
 */
export interface StackHost {
  readonly tcp: TcpApi;
  now(): number;
  /** Re-evaluates the core's next deadline and flushes queued output. */
  kick(): void;
}
