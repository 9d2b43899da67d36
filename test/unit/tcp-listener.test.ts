// The listener's two queues: the SYN queue and the accept queue.
import { describe, expect, it } from 'vitest';
import { TcpPeer } from '../helpers/tcp-peer.ts';

describe('SYN queue', () => {
  it('a SYN beyond synBacklog is dropped and counted (SYN cookies off; tcp-syn-cookies.test.ts has them on)', () => {
    const peer = new TcpPeer({ config: { synCookies: 0 } });
    const server = peer.listen({ synBacklog: 2 });
    peer.send({ flags: 'S', seq: 100, srcPort: 1001 });
    peer.expect({ flags: 'SA', dstPort: 1001 });
    peer.send({ flags: 'S', seq: 200, srcPort: 1002 });
    peer.expect({ flags: 'SA', dstPort: 1002 });
    peer.send({ flags: 'S', seq: 300, srcPort: 1003 });
    peer.expectNothing();
    expect(server.listener.getInfo()).toMatchObject({ synQueueLength: 2, synQueueLimit: 2, synQueueOverflows: 1 });
    expect(peer.tcp.stats.synQueueOverflows).toBe(1);
    // Completing one handshake makes room.
    peer.send({ flags: 'A', seq: 101, ack: 5001, srcPort: 1001 });
    peer.send({ flags: 'S', seq: 300, srcPort: 1003 });
    peer.expect({ flags: 'SA', ack: 301, dstPort: 1003 });
  });

  it('SYN-ACK is retransmitted with exponential backoff synAckRetries times, then the entry is freed', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000 });
    peer.expect({ flags: 'SA', seq: 5000, ack: 1001, at: 0 });
    peer.advance(200_000);
    for (const at of [1000, 3000, 7000, 15000, 31000]) peer.expect({ flags: 'SA', seq: 5000, ack: 1001, at });
    peer.expectNothing();
    expect(peer.tcp.connectionCount).toBe(0);
    expect(server.listener.getInfo().synQueueLength).toBe(0);
    expect(peer.tcp.stats.synAckTimeouts).toBe(1);
    expect(peer.tcp.stats.retransmittedSegments).toBe(5);
    // Freed at 63 s, when the fifth retransmission's 32 s timer ran out.
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
  });

  it('the entry is freed exactly when the last SYN-ACK timer expires', () => {
    const peer = new TcpPeer({ config: { synAckRetries: 1 } });
    peer.listen();
    peer.send({ flags: 'S', seq: 1000 });
    peer.expect({ flags: 'SA', at: 0 });
    peer.advance(2999);
    peer.expect({ flags: 'SA', at: 1000 });
    expect(peer.tcp.connectionCount).toBe(1);
    peer.advance(1);
    expect(peer.tcp.connectionCount).toBe(0);
  });
});

describe('accept queue', () => {
  it('full: the final ACK is dropped and counted, the client retries after our SYN-ACK and succeeds once accepted', () => {
    const peer = new TcpPeer();
    const server = peer.listen({ backlog: 1 });
    // B's SYN first, then A completes its handshake and fills the queue.
    peer.send({ flags: 'S', seq: 2000, srcPort: 2222 });
    peer.expect({ flags: 'SA', ack: 2001, dstPort: 2222 });
    peer.send({ flags: 'S', seq: 1000, srcPort: 1111 });
    peer.expect({ flags: 'SA', ack: 1001, dstPort: 1111 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, srcPort: 1111 });
    expect(server.listener.getInfo()).toMatchObject({ acceptQueueLength: 1, synQueueLength: 1 });

    // B's final ACK: dropped, B stays half-open.
    peer.send({ flags: 'A', seq: 2001, ack: 5001, srcPort: 2222 });
    peer.expectNothing();
    expect(server.listener.getInfo()).toMatchObject({ acceptQueueLength: 1, synQueueLength: 1, acceptQueueOverflows: 1 });
    expect(peer.tcp.stats.acceptQueueOverflows).toBe(1);

    // A new SYN while the accept queue is full: dropped too.
    peer.send({ flags: 'S', seq: 3000, srcPort: 3333 });
    peer.expectNothing();
    expect(peer.tcp.stats.synDroppedAcceptQueueFull).toBe(1);

    // The application accepts A; B's SYN-ACK retransmission makes B ACK again.
    expect(server.accept()?.conn.remotePort).toBe(1111);
    peer.advance(1000);
    peer.expect({ flags: 'SA', seq: 5000, ack: 2001, dstPort: 2222, at: 1000 });
    peer.send({ flags: 'A', seq: 2001, ack: 5001, srcPort: 2222 });
    const b = server.accept();
    expect(b?.state).toBe('ESTABLISHED');
    expect(b?.conn.remotePort).toBe(2222);
    expect(server.listener.getInfo()).toMatchObject({ acceptQueueLength: 0, synQueueLength: 0 });
  });

  it('data on a dropped final ACK is dropped with it; its retransmission is delivered once there is room', () => {
    const peer = new TcpPeer();
    const server = peer.listen({ backlog: 1 });
    peer.send({ flags: 'S', seq: 2000, srcPort: 2222 });
    peer.expect({ flags: 'SA', dstPort: 2222 });
    peer.send({ flags: 'S', seq: 1000, srcPort: 1111 });
    peer.expect({ flags: 'SA', dstPort: 1111 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, srcPort: 1111 });
    peer.send({ flags: 'PA', seq: 2001, ack: 5001, srcPort: 2222, data: 'GET /' });
    peer.expectNothing();
    expect(server.listener.getInfo().acceptQueueOverflows).toBe(1);
    server.accept();
    peer.advance(500);
    peer.send({ flags: 'PA', seq: 2001, ack: 5001, srcPort: 2222, data: 'GET /' });
    const b = server.accept()!;
    expect(b.events).toEqual(['readable']);
    b.read();
    expect(b.receivedText).toBe('GET /');
  });

  it('a connection reset while waiting in the accept queue disappears from it', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000 });
    peer.expect({ flags: 'SA' });
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    expect(server.listener.getInfo().acceptQueueLength).toBe(1);
    peer.send({ flags: 'R', seq: 1001 });
    expect(server.listener.getInfo().acceptQueueLength).toBe(0);
    expect(server.accept()).toBeUndefined();
  });

  it('a connection that got data and FIN while queued delivers readable and end on accept', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000 });
    peer.expect({ flags: 'SA' });
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    peer.send({ flags: 'FPA', seq: 1001, ack: 5001, data: 'ping' });
    peer.expect({ flags: 'A', ack: 1006 });
    const conn = server.accept()!;
    expect(conn.state).toBe('CLOSE-WAIT');
    expect(conn.events).toEqual(['readable', 'end']);
    expect(conn.receivedText).toBe('');
    conn.read();
    expect(conn.receivedText).toBe('ping');
  });
});

describe('listener close and limits', () => {
  it('close() resets connections in both queues and frees the port', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000, srcPort: 1111 });
    peer.expect({ flags: 'SA', dstPort: 1111 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001, srcPort: 1111 });
    peer.send({ flags: 'S', seq: 2000, srcPort: 2222 });
    peer.expect({ flags: 'SA', dstPort: 2222 });
    server.close();
    peer.expect({ flags: 'R', seq: 5001, dstPort: 2222 });
    peer.expect({ flags: 'R', seq: 5001, dstPort: 1111 });
    expect(peer.tcp.connectionCount).toBe(0);
    expect([...peer.tcp.listeners()]).toHaveLength(0);
    peer.send({ flags: 'S', seq: 3000, srcPort: 3333 });
    peer.expect({ flags: 'RA', ack: 3001 });
    peer.listen();
  });

  it('an accepted connection survives the listener closing', () => {
    const peer = new TcpPeer();
    const { server, conn } = peer.establishPassive();
    server.close();
    peer.expectNothing();
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('a SYN beyond maxConnections is dropped and counted', () => {
    const peer = new TcpPeer({ config: { maxConnections: 2 } });
    peer.listen();
    for (const port of [1, 2, 3]) peer.send({ flags: 'S', seq: 100, srcPort: port });
    expect(peer.drain()).toHaveLength(2);
    expect(peer.tcp.stats.connectionTableFull).toBe(1);
    expect(() => peer.tcp.connect({ remoteAddress: peer.peerAddress, remotePort: 9 }, 0)).toThrow(
      expect.objectContaining({ code: 'EMFILE' }),
    );
  });

  it('a listener on a specific address wins over the wildcard', () => {
    const peer = new TcpPeer();
    const wildcard = peer.tcp.listen({ address: 0, port: 80 });
    expect(() => peer.tcp.listen({ address: peer.ourAddress, port: 80 })).toThrow(
      expect.objectContaining({ code: 'EADDRINUSE' }),
    );
    wildcard.close(0);
    const specific = peer.tcp.listen({ address: peer.ourAddress, port: 80 });
    peer.send({ flags: 'S', seq: 1 });
    peer.expect({ flags: 'SA' });
    peer.send({ flags: 'A', seq: 2, ack: 5001 });
    expect(specific.accept()).toBeDefined();
  });
});
