// Closing: active, passive, simultaneous, half-close, TIME-WAIT (RFC 9293 §3.6).
import { describe, expect, it } from 'vitest';
import { TcpPeer } from '../helpers/tcp-peer.ts';

describe('active close (FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT)', () => {
  it('FIN after the data, then TIME-WAIT for 60 s virtual, then gone', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.write('bye');
    peer.expect({ flags: 'PA', seq: 5001, ack: 1001, data: 'bye' });
    conn.shutdown();
    expect(conn.state).toBe('FIN-WAIT-1');
    peer.expect({ flags: 'FA', seq: 5004, ack: 1001, len: 0 });
    peer.send({ flags: 'A', seq: 1001, ack: 5005 });
    expect(conn.state).toBe('FIN-WAIT-2');
    expect(conn.events).toEqual(['writable']);
    peer.send({ flags: 'FA', seq: 1001, ack: 5005 });
    peer.expect({ flags: 'A', seq: 5005, ack: 1002 });
    expect(conn.state).toBe('TIME-WAIT');
    expect(conn.events).toEqual(['writable', 'end', 'close']);
    // The TCB stays in the table for 2*MSL and still answers.
    expect([...peer.tcp.connections()].map((c) => c.state)).toEqual(['TIME-WAIT']);
    expect(peer.tcp.nextDeadline()).toBe(60_000);
    peer.advance(59_999);
    expect(peer.tcp.connectionCount).toBe(1);
    peer.advance(1);
    expect(peer.tcp.connectionCount).toBe(0);
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
    peer.expectNothing();
    // Now the port has no connection: a segment gets an RST.
    peer.send({ flags: 'A', seq: 1002, ack: 5005 });
    peer.expect({ flags: 'R', seq: 5005 });
  });

  it('TIME-WAIT duration is configurable', () => {
    const peer = new TcpPeer({ config: { timeWaitMs: 1000 } });
    const { conn } = peer.establishPassive();
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001 });
    peer.send({ flags: 'FA', seq: 1001, ack: 5002 });
    peer.expect({ flags: 'A', ack: 1002 });
    expect(conn.state).toBe('TIME-WAIT');
    peer.advance(999);
    expect(peer.tcp.connectionCount).toBe(1);
    peer.advance(1);
    expect(peer.tcp.connectionCount).toBe(0);
  });

  it('a retransmitted FIN in TIME-WAIT is re-ACKed and restarts the timer', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001 });
    peer.send({ flags: 'FA', seq: 1001, ack: 5002 });
    peer.expect({ flags: 'A', seq: 5002, ack: 1002 });
    peer.advance(30_000);
    peer.send({ flags: 'FA', seq: 1001, ack: 5002 });
    peer.expect({ flags: 'A', seq: 5002, ack: 1002, at: 30_000 });
    peer.advance(59_999);
    expect(peer.tcp.connectionCount).toBe(1);
    peer.advance(1);
    expect(peer.tcp.connectionCount).toBe(0);
    expect(conn.events.filter((e) => e.startsWith('close'))).toEqual(['close']);
  });

  it('a new SYN with a higher sequence number reopens a TIME-WAIT 4-tuple', () => {
    const peer = new TcpPeer();
    const { server, conn } = peer.establishPassive();
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001 });
    peer.send({ flags: 'FA', seq: 1001, ack: 5002 });
    peer.expect({ flags: 'A', ack: 1002 });
    peer.iss = 7000;
    peer.send({ flags: 'S', seq: 2000, options: { mss: 1460 } });
    peer.expect({ flags: 'SA', seq: 7000, ack: 2001 });
    peer.send({ flags: 'A', seq: 2001, ack: 7001 });
    expect(server.accept()?.state).toBe('ESTABLISHED');
  });

  it('FIN-WAIT-1 -> TIME-WAIT when one segment ACKs our FIN and carries the peer FIN', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001 });
    peer.send({ flags: 'FA', seq: 1001, ack: 5002 });
    peer.expect({ flags: 'A', seq: 5002, ack: 1002 });
    expect(conn.state).toBe('TIME-WAIT');
  });
});

describe('passive close (CLOSE-WAIT -> LAST-ACK -> CLOSED)', () => {
  it('the peer FIN gives onEnd and an immediate ACK; our FIN then LAST-ACK; its ACK closes', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'abc' });
    peer.send({ flags: 'FA', seq: 1004, ack: 5001 });
    peer.expect({ flags: 'A', seq: 5001, ack: 1005 });
    expect(conn.state).toBe('CLOSE-WAIT');
    expect(conn.events).toEqual(['readable', 'end']);
    expect(conn.read()).toHaveLength(3);
    conn.shutdown();
    expect(conn.state).toBe('LAST-ACK');
    peer.expect({ flags: 'FA', seq: 5001, ack: 1005 });
    peer.send({ flags: 'A', seq: 1005, ack: 5002 });
    expect(conn.state).toBe('CLOSED');
    expect(conn.events).toEqual(['readable', 'end', 'close']);
    expect(peer.tcp.connectionCount).toBe(0);
    peer.expectNothing();
  });

  it('a retransmitted peer FIN in LAST-ACK is ACKed again', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'FA', seq: 1001, ack: 5001 });
    peer.expect({ flags: 'A', ack: 1002 });
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001 });
    peer.send({ flags: 'FA', seq: 1001, ack: 5001 });
    peer.expect({ flags: 'A', seq: 5002, ack: 1002 });
    expect(conn.state).toBe('LAST-ACK');
  });

  it('our FIN in LAST-ACK is retransmitted until acknowledged', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'FA', seq: 1001, ack: 5001 });
    peer.expect({ flags: 'A', ack: 1002 });
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001, at: 0 });
    // The handshake measured an RTT of 0, so the RTO is the 200 ms minimum, doubling.
    peer.advance(1000);
    peer.expect({ flags: 'FA', seq: 5001, at: 200 });
    peer.expect({ flags: 'FA', seq: 5001, at: 600 });
    peer.send({ flags: 'A', seq: 1002, ack: 5002 });
    expect(conn.state).toBe('CLOSED');
  });
});

describe('simultaneous close (FIN-WAIT-1 -> CLOSING -> TIME-WAIT)', () => {
  it('FINs cross; each side ACKs the other', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001, ack: 1001 });
    // The peer's FIN does not acknowledge ours.
    peer.send({ flags: 'FA', seq: 1001, ack: 5001 });
    expect(conn.state).toBe('CLOSING');
    peer.expect({ flags: 'A', seq: 5002, ack: 1002 });
    peer.send({ flags: 'A', seq: 1002, ack: 5002 });
    expect(conn.state).toBe('TIME-WAIT');
    expect(conn.events).toEqual(['end', 'close']);
  });
});

describe('half-close', () => {
  it('we shut down; data keeps flowing to us in FIN-WAIT-2', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001 });
    peer.send({ flags: 'A', seq: 1001, ack: 5002 });
    expect(conn.state).toBe('FIN-WAIT-2');
    expect(() => conn.write('more')).toThrow(expect.objectContaining({ code: 'EPIPE' }));
    for (let i = 0; i < 4; i++) {
      peer.send({ flags: 'A', seq: 1001 + i * 1460, ack: 5002, data: new Uint8Array(1460).fill(i) });
      if (i % 2 === 1) peer.expect({ flags: 'A', ack: 1001 + (i + 1) * 1460 });
    }
    expect(conn.read()).toHaveLength(4 * 1460);
    peer.send({ flags: 'FA', seq: 1001 + 4 * 1460, ack: 5002 });
    peer.expect({ flags: 'A', ack: 1002 + 4 * 1460 });
    expect(conn.state).toBe('TIME-WAIT');
  });

  it('the peer shuts down; we keep sending in CLOSE-WAIT', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'FA', seq: 1001, ack: 5001 });
    peer.expect({ flags: 'A', ack: 1002 });
    expect(conn.state).toBe('CLOSE-WAIT');
    conn.setNoDelay(true);
    conn.write('response one');
    peer.expect({ flags: 'PA', seq: 5001, ack: 1002, data: 'response one' });
    conn.write('two');
    peer.expect({ flags: 'PA', seq: 5013, data: 'two' });
    peer.send({ flags: 'A', seq: 1002, ack: 5016 });
    expect(conn.events).toEqual(['end', 'writable']);
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5016, ack: 1002 });
    peer.send({ flags: 'A', seq: 1002, ack: 5017 });
    expect(conn.state).toBe('CLOSED');
  });

  it('shutdown in SYN-SENT deletes the TCB without an RST (RFC 9293 §3.10.4)', () => {
    const peer = new TcpPeer();
    const client = peer.connect();
    peer.expect({ flags: 'S' });
    client.shutdown();
    expect(client.state).toBe('CLOSED');
    expect(client.events).toEqual(['close']);
    peer.expectNothing();
    expect(peer.tcp.connectionCount).toBe(0);
  });

  it('shutdown in SYN-RECEIVED (simultaneous open) sends the FIN once established', () => {
    const peer = new TcpPeer({ ourPort: 50000, peerPort: 6000 });
    const client = peer.connect();
    peer.expect({ flags: 'S', seq: 5000 });
    peer.send({ flags: 'S', seq: 9000 });
    peer.expect({ flags: 'SA', seq: 5000, ack: 9001 });
    client.shutdown();
    peer.expectNothing();
    peer.send({ flags: 'A', seq: 9001, ack: 5001 });
    expect(client.state).toBe('FIN-WAIT-1');
    peer.expect({ flags: 'FA', seq: 5001, ack: 9001 });
  });
});

describe('abort', () => {
  it('sends RST when synchronized, frees the TCB and reports close(null)', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.write('unacked');
    peer.expect({ flags: 'PA', data: 'unacked' });
    conn.abort();
    peer.expect({ flags: 'R', seq: 5008 });
    expect(conn.state).toBe('CLOSED');
    expect(conn.events).toEqual(['close']);
    expect(peer.tcp.connectionCount).toBe(0);
    expect(() => conn.write('x')).toThrow(expect.objectContaining({ code: 'EPIPE' }));
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
  });

  it('in SYN-SENT frees the TCB without RST', () => {
    const peer = new TcpPeer();
    const client = peer.connect();
    peer.expect({ flags: 'S' });
    client.abort();
    peer.expectNothing();
    expect(client.events).toEqual(['close']);
  });
});
