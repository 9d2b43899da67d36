// Orphaned connections (close(2) semantics, Connection.detach): FIN-WAIT-2
// bounded by finWait2TimeoutMs (Linux tcp_fin_timeout), and data after
// close answered with RST (RFC 1122 §4.2.2.13).
import { describe, expect, it } from 'vitest';
import { VirtualNet } from '../helpers/virtual-net.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

describe('an orphaned connection', () => {
  it('in FIN-WAIT-2 is freed after finWait2TimeoutMs when the peer never sends its FIN', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.conn.detach(peer.now);
    peer.expect({ flags: 'FA', seq: 5001, ack: 1001 });
    peer.advance(10);
    peer.send({ flags: 'A', seq: 1001, ack: 5002 });
    expect(conn.state).toBe('FIN-WAIT-2');
    peer.advanceTo(60_009);
    expect(conn.state).toBe('FIN-WAIT-2');
    peer.advanceTo(60_010);
    // Freed silently, as Linux does: no RST, nothing more to say.
    peer.expectNothing();
    expect(peer.tcp.connectionCount).toBe(0);
    expect(peer.tcp.stats.finWait2Timeouts).toBe(1);
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
  });

  it('detached in FIN-WAIT-2 starts the timeout at once; the timeout is configurable', () => {
    const peer = new TcpPeer({ config: { finWait2TimeoutMs: 5000 } });
    const { conn } = peer.establishPassive();
    conn.shutdown();
    peer.expect({ flags: 'FA' });
    peer.send({ flags: 'A', seq: 1001, ack: 5002 });
    peer.advance(1000);
    conn.conn.detach(peer.now);
    peer.advance(4999);
    expect(peer.tcp.connectionCount).toBe(1);
    peer.advance(1);
    expect(peer.tcp.connectionCount).toBe(0);
  });

  it("whose peer does send its FIN goes through TIME-WAIT as usual", () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.conn.detach(peer.now);
    peer.expect({ flags: 'FA' });
    peer.send({ flags: 'A', seq: 1001, ack: 5002 });
    peer.advance(30_000);
    peer.send({ flags: 'FA', seq: 1001, ack: 5002 });
    peer.expect({ flags: 'A', ack: 1002 });
    expect(conn.state).toBe('TIME-WAIT');
    peer.advance(59_999);
    expect(conn.state).toBe('TIME-WAIT');
    peer.advance(1);
    expect(peer.tcp.connectionCount).toBe(0);
    expect(peer.tcp.stats.finWait2Timeouts).toBe(0);
  });

  it('answers new data with RST (RFC 1122 §4.2.2.13)', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.conn.detach(peer.now);
    peer.expect({ flags: 'FA', seq: 5001 });
    peer.send({ flags: 'PA', seq: 1001, ack: 5002, data: 'more?' });
    peer.expect({ flags: 'R', seq: 5002 });
    expect(peer.tcp.connectionCount).toBe(0);
    expect(peer.tcp.stats.abortOnData).toBe(1);
  });

  it('with unread data is reset at once, like close(2) on a kernel socket', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'unread' });
    conn.conn.detach(peer.now);
    peer.expect({ flags: 'R', seq: 5001 });
    expect(peer.tcp.connectionCount).toBe(0);
  });
});

describe('a connection still held by the application', () => {
  it('may stay half-closed in FIN-WAIT-2 indefinitely (RFC 9293)', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.shutdown();
    peer.expect({ flags: 'FA' });
    peer.send({ flags: 'A', seq: 1001, ack: 5002 });
    peer.advance(3_600_000);
    expect(conn.state).toBe('FIN-WAIT-2');
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
    // And still receives.
    peer.send({ flags: 'PA', seq: 1001, ack: 5002, data: 'late' });
    expect(conn.readableLength).toBe(4);
  });
});

describe('the socket layer orphans what it destroys after an orderly end', () => {
  it('a destroyed socket in FIN-WAIT-2 is freed after 60 s even if the peer never closes', async () => {
    const vnet = new VirtualNet();
    let serverSide: { destroyed: boolean } | null = null;
    // The server keeps its half open and never ends.
    vnet.b.net.createServer({ allowHalfOpen: true }, (s) => (serverSide = s)).listen(7);
    const client = vnet.a.net.connect({ host: '10.0.0.2', port: 7 });
    await vnet.until(() => serverSide !== null, 10_000);
    client.destroySoon();
    await vnet.until(() => client.destroyed, 10_000);
    await vnet.run(1000);
    expect([...vnet.a.tcp.connections()].map((c) => c.state)).toEqual(['FIN-WAIT-2']);
    await vnet.run(60_000);
    expect(vnet.a.tcp.connectionCount).toBe(0);
    expect(vnet.a.tcp.stats.finWait2Timeouts).toBe(1);
  });
});
