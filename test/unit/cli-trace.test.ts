/**
 * The core's trace hook behind `tuntcp serve --trace`, in virtual time: two
 * stacks over an in-memory link, events collected as the CLI would write them.
 */
import { describe, expect, it } from 'vitest';
import type { Socket } from '../../src/socket/socket.ts';
import type { TcpTraceEvent } from '../../src/tcp/trace.ts';
import { VirtualNet } from '../helpers/virtual-net.ts';

describe('--trace: what the core reports', () => {
  it('every state change of both ends of a connection, in order, once each', async () => {
    const net = new VirtualNet({ latencyMs: 5 });
    const events: TcpTraceEvent[] = [];
    net.a.tcp.trace = (e) => events.push(e);
    net.b.tcp.trace = (e) => events.push(e);
    let served: Socket | null = null;
    net.b.net
      .createServer((s) => {
        served = s;
        s.resume();
        s.on('end', () => s.end());
      })
      .listen(80);
    const client = net.a.net.connect({ host: '10.0.0.2', port: 80 });
    client.resume();
    await net.until(() => served !== null);
    client.end();
    await net.until(() => client.destroyed && served !== null && (served as Socket).destroyed);
    await net.run(61_000); // through TIME-WAIT

    const states = (conn: string): string[] =>
      events.filter((e): e is Extract<TcpTraceEvent, { event: 'state' }> => e.event === 'state' && e.conn.startsWith(conn)).map((e) => `${e.from}>${e.to}`);
    expect(states('10.0.0.1:')).toEqual(['CLOSED>SYN-SENT', 'SYN-SENT>ESTABLISHED', 'ESTABLISHED>FIN-WAIT-1', 'FIN-WAIT-1>FIN-WAIT-2', 'FIN-WAIT-2>TIME-WAIT', 'TIME-WAIT>CLOSED']);
    expect(states('10.0.0.2:80-')).toEqual(['CLOSED>SYN-RECEIVED', 'SYN-RECEIVED>ESTABLISHED', 'ESTABLISHED>CLOSE-WAIT', 'CLOSE-WAIT>LAST-ACK', 'LAST-ACK>CLOSED']);
    expect(events).toContainEqual(expect.objectContaining({ event: 'timer', timer: 'time-wait', state: 'TIME-WAIT' }));
  });

  it('accept-queue overflow: the dropped SYN says who it came from', async () => {
    const net = new VirtualNet({ latencyMs: 5 });
    const events: TcpTraceEvent[] = [];
    net.b.tcp.trace = (e) => events.push(e);
    net.b.net.createServer({ autoAccept: false, backlog: 1 }).listen(7);
    const first = net.a.net.connect({ host: '10.0.0.2', port: 7 });
    first.on('error', () => undefined);
    await net.run(50);
    const second = net.a.net.connect({ host: '10.0.0.2', port: 7 });
    second.on('error', () => undefined);
    await net.run(50);
    expect(events).toContainEqual({
      event: 'syn-dropped-accept-queue-full',
      listener: '0.0.0.0:7',
      from: `10.0.0.1:${second.localPort}`,
    });
    first.destroy();
    second.destroy();
  });
});
