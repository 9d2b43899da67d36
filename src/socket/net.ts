import type { StackHost } from '../stack/host.ts';
import { Server, type ServerOptions } from './server.ts';
import { Socket, type SocketConnectOptions, type SocketOptions } from './socket.ts';

export interface NetConnectOptions extends SocketConnectOptions, SocketOptions {}

/**
 * The `net`-shaped entry points over one stack: `createServer`, `connect` /
 * `createConnection`. Pass `createConnection` to Node's `http.request` to run
 * its client over tuntcp.
 */
export interface TuntcpNet {
  createServer(options?: ServerOptions | ((socket: Socket) => void), listener?: (socket: Socket) => void): Server;
  connect(options: NetConnectOptions, listener?: () => void): Socket;
  createConnection(options: NetConnectOptions, listener?: () => void): Socket;
}

export function createNet(host: StackHost): TuntcpNet {
  const connect = (options: NetConnectOptions, listener?: () => void): Socket =>
    new Socket(host, options).connect(options, listener);
  return {
    createServer(options, listener) {
      if (typeof options === 'function') return new Server(host, {}, options);
      return new Server(host, options ?? {}, listener);
    },
    connect,
    createConnection: connect,
  };
}

export { Server, Socket };
