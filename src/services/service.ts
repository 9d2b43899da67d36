import type { Server } from '../socket/server.ts';
import type { Socket, TuntcpNet } from '../socket/net.ts';
import { throttleReads } from './slow-reader.ts';

/**
 * How the application behind a service behaves — the knobs the labs turn to
 * make a queue or a buffer fill on purpose.
 */
export interface ServiceBehaviour {
  /** Turn Nagle's algorithm off on every accepted connection. */
  noDelay?: boolean;
  /**
   * The application reads its receive buffer at this many bytes per second
   * at most (0 or undefined: as fast as it can), so the buffer fills and the
   * advertised window closes.
   */
  slowReaderBytesPerSecond?: number;
  /**
   * When the application takes connections off the accept queue: 'always'
   * (as soon as they are there), 'never' (they wait there until shutdown:
   * the accept queue fills and overflows), or every N ms (a busy
   * single-threaded server that gets round to accept() now and then, and
   * then takes all that wait).
   */
  accept?: 'always' | 'never' | { everyMs: number };
}

export interface ServiceOptions extends ServiceBehaviour {
  port: number;
}

/** A running service: its server, and how to stop its own timers and listener. */
export interface Service {
  readonly name: string;
  readonly port: number;
  readonly server: Server;
  /** Closes the listener (queued connections are reset by the core) and stops the accept timer. */
  stopListening(): void;
  /**
   * Asks the open connections to finish: by default each gets end() (FIN);
   * HTTP ends idle keep-alive connections now and busy ones after their
   * response.
   */
  finishConnections(): void;
}

/**
 * Creates a listening server with the behaviour applied to every accepted
 * socket before the service's own handler sees it.
 */
export function startService(
  net: TuntcpNet,
  name: string,
  options: ServiceOptions,
  serverOptions: { allowHalfOpen: boolean },
  onSocket: (socket: Socket) => void,
  finish: (socket: Socket) => void = (socket) => socket.end(),
): Service {
  const accept = options.accept ?? 'always';
  const server = net.createServer(
    {
      allowHalfOpen: serverOptions.allowHalfOpen,
      autoAccept: accept === 'always',
      ...(options.noDelay ? { noDelay: true } : {}),
    },
    (socket) => {
      if (options.noDelay) socket.setNoDelay(true);
      const rate = options.slowReaderBytesPerSecond ?? 0;
      if (rate > 0) throttleReads(socket, rate);
      onSocket(socket);
    },
  );
  let acceptTimer: NodeJS.Timeout | null = null;
  if (typeof accept === 'object') {
    acceptTimer = setInterval(() => {
      // Take everything that waits now; drainAcceptQueue runs in a microtask,
      // so stop again only once it has had its turn.
      server.setAccepting(true);
      setImmediate(() => server.setAccepting(false));
    }, accept.everyMs);
  }
  server.listen(options.port);
  return {
    name,
    port: options.port,
    server,
    stopListening() {
      if (acceptTimer) clearInterval(acceptTimer);
      acceptTimer = null;
      if (server.listening) server.close();
    },
    finishConnections() {
      for (const socket of [...server.connections()]) finish(socket);
    },
  };
}
