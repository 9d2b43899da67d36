// Resets (RFC 9293 §3.5.2-3.5.3, §3.10.7) and the sequence acceptability test.
import { describe, expect, it } from 'vitest';
import { TcpPeer } from '../helpers/tcp-peer.ts';

describe('segments to a closed port (RFC 9293 §3.10.7.1)', () => {
  it('without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>', () => {
    const peer = new TcpPeer();
    peer.send({ flags: 'S', seq: 1000 });
    peer.expect({ flags: 'RA', seq: 0, ack: 1001, win: 0 });
    peer.send({ flags: 'F', seq: 3000, data: 'abcd' });
    peer.expect({ flags: 'RA', seq: 0, ack: 3005 });
    expect(peer.tcp.stats.rstsSent).toBe(2);
    expect(peer.tcp.stats.noConnection).toBe(2);
  });

  it('with ACK: <SEQ=SEG.ACK><CTL=RST>', () => {
    const peer = new TcpPeer();
    peer.send({ flags: 'PA', seq: 1000, ack: 424242, data: 'x' });
    peer.expect({ flags: 'R', seq: 424242, srcPort: 80, dstPort: 40000 });
  });

  it('never answers an RST with an RST', () => {
    const peer = new TcpPeer();
    peer.send({ flags: 'R', seq: 1000 });
    peer.send({ flags: 'RA', seq: 1000, ack: 5 });
    peer.expectNothing();
    expect(peer.tcp.stats.noConnection).toBe(2);
  });

  it('drops and counts a bad checksum and malformed segments, without reply', () => {
    const peer = new TcpPeer();
    peer.listen();
    peer.send({ flags: 'S', seq: 1000, badChecksum: true });
    peer.expectNothing();
    expect(peer.tcp.stats.badChecksum).toBe(1);
    peer.send({ flags: 'S', seq: 1000, dstPort: 0 });
    // A SYN whose option list has a length-1 option: malformed.
    const syn = new Uint8Array(24);
    syn.set([0x9c, 0x40, 0, 80, 0, 0, 3, 0xe8, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2, 1, 0, 0]);
    peer.sendTcpBytes(syn);
    // Data offset beyond the segment.
    const short = syn.slice(0, 20);
    short[12] = 0x70;
    peer.sendTcpBytes(short);
    // Shorter than a header.
    peer.sendTcpBytes(syn.slice(0, 12));
    peer.expectNothing();
    expect(peer.tcp.stats.malformed).toBe(4);
    expect(peer.tcp.stats.segmentsIn).toBe(5);
    // The same SYN with a well-formed MSS option is answered.
    syn.set([2, 4, 0x05, 0xb4], 20);
    peer.sendTcpBytes(syn);
    peer.expect({ flags: 'SA', ack: 1001 });
  });
});

describe('RST in each state', () => {
  it('SYN-SENT: an RST acknowledging our SYN -> ECONNREFUSED', () => {
    const peer = new TcpPeer();
    const client = peer.connect();
    peer.expect({ flags: 'S', seq: 5000 });
    peer.send({ flags: 'RA', seq: 0, ack: 5001 });
    expect(client.state).toBe('CLOSED');
    expect(client.events).toEqual(['close:ECONNREFUSED']);
    expect(peer.tcp.connectionCount).toBe(0);
    expect(peer.tcp.nextDeadline()).toBe(Infinity);
    expect(peer.tcp.stats.connectionsReset).toBe(1);
  });

  it('SYN-SENT: an RST without ACK, or acking something else, is ignored', () => {
    const peer = new TcpPeer();
    const client = peer.connect();
    peer.expect({ flags: 'S', seq: 5000 });
    peer.send({ flags: 'R', seq: 0 });
    peer.send({ flags: 'RA', seq: 0, ack: 4000 });
    peer.expectNothing();
    expect(client.state).toBe('SYN-SENT');
  });

  it('SYN-RECEIVED (passive): the entry is freed, the listener stays', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000 });
    peer.expect({ flags: 'SA', ack: 1001 });
    peer.send({ flags: 'R', seq: 1001 });
    peer.expectNothing();
    expect(peer.tcp.connectionCount).toBe(0);
    expect(server.listener.getInfo().synQueueLength).toBe(0);
    // The listener still works.
    peer.send({ flags: 'S', seq: 2000 });
    peer.expect({ flags: 'SA', ack: 2001 });
  });

  it('SYN-RECEIVED (simultaneous open): ECONNREFUSED', () => {
    const peer = new TcpPeer();
    const client = peer.connect();
    peer.expect({ flags: 'S', seq: 5000 });
    peer.send({ flags: 'S', seq: 9000 });
    peer.expect({ flags: 'SA', ack: 9001 });
    peer.send({ flags: 'R', seq: 9001 });
    expect(client.events).toEqual(['close:ECONNREFUSED']);
  });

  it.each(['ESTABLISHED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSE-WAIT', 'CLOSING', 'LAST-ACK'])(
    '%s: ECONNRESET, TCB freed, write throws EPIPE',
    (state) => {
      const peer = new TcpPeer();
      const { conn } = peer.establishPassive();
      let rcvNxt = 1001;
      if (state === 'FIN-WAIT-1' || state === 'FIN-WAIT-2' || state === 'CLOSING') {
        conn.shutdown();
        peer.expect({ flags: 'FA', seq: 5001 });
        if (state === 'FIN-WAIT-2') peer.send({ flags: 'A', seq: 1001, ack: 5002 });
        if (state === 'CLOSING') {
          peer.send({ flags: 'FA', seq: 1001, ack: 5001 });
          peer.expect({ flags: 'A', ack: 1002 });
          rcvNxt = 1002;
        }
      }
      if (state === 'CLOSE-WAIT' || state === 'LAST-ACK') {
        peer.send({ flags: 'FA', seq: 1001, ack: 5001 });
        peer.expect({ flags: 'A', ack: 1002 });
        rcvNxt = 1002;
        if (state === 'LAST-ACK') {
          conn.shutdown();
          peer.expect({ flags: 'FA' });
        }
      }
      expect(conn.state).toBe(state);
      conn.takeEvents();
      peer.send({ flags: 'R', seq: rcvNxt });
      peer.expectNothing();
      expect(conn.state).toBe('CLOSED');
      expect(conn.events).toEqual(['close:ECONNRESET']);
      expect(peer.tcp.connectionCount).toBe(0);
      expect(() => conn.write('x')).toThrow(expect.objectContaining({ code: 'EPIPE' }));
    },
  );

  it('TIME-WAIT: the TCB is deleted, no second onClose', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001 });
    peer.send({ flags: 'FA', seq: 1001, ack: 5002 });
    peer.expect({ flags: 'A', ack: 1002 });
    peer.send({ flags: 'R', seq: 1002 });
    expect(peer.tcp.connectionCount).toBe(0);
    expect(conn.events).toEqual(['end', 'close']);
  });

  it('an RST outside the window is ignored (no reply to an RST)', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'R', seq: 1001 + 70_000 });
    peer.send({ flags: 'R', seq: 900 });
    peer.expectNothing();
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('an RST in the window but not at RCV.NXT gets a challenge ACK and is not believed (RFC 5961 §3.2)', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'R', seq: 1001 + 30_000 });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001 });
    expect(conn.state).toBe('ESTABLISHED');
    expect(conn.events).toEqual([]);
    // The genuine peer answers the challenge with the exact sequence number.
    peer.send({ flags: 'R', seq: 1001 });
    expect(conn.events).toEqual(['close:ECONNRESET']);
  });
});

describe('the sequence acceptability test (RFC 9293 §3.10.7.4, first)', () => {
  it('an old duplicate gets an ACK and changes nothing', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'abc' });
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 1004 });
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'abc' });
    peer.expect({ flags: 'A', seq: 5001, ack: 1004, at: 40 });
    expect(conn.read()).toHaveLength(3);
    expect(peer.tcp.stats.unacceptableSegments).toBe(1);
  });

  it('a segment beyond the window gets an ACK', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'PA', seq: 1001 + 65535, ack: 5001, data: 'zz' });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001 });
    expect(conn.readableLength).toBe(0);
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('a segment overlapping the left edge is trimmed; the new part is kept', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'hello' });
    peer.send({ flags: 'PA', seq: 1004, ack: 5001, data: 'lo world' });
    peer.expect({ flags: 'A', ack: 1012 });
    expect(conn.read()).toEqual(new TextEncoder().encode('hello world'));
  });

  it('an ACK of data never sent gets an ACK and is dropped', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'PA', seq: 1001, ack: 6000, data: 'abc' });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001 });
    expect(conn.readableLength).toBe(0);
  });

  it('a SYN in a synchronized state gets a challenge ACK (RFC 5961 §4)', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'S', seq: 1500 });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001 });
    expect(conn.state).toBe('ESTABLISHED');
  });

  it('a keepalive probe (SEG.SEQ = RCV.NXT - 1) gets an ACK', () => {
    const peer = new TcpPeer();
    peer.establishPassive();
    peer.send({ flags: 'A', seq: 1000, ack: 5001 });
    peer.expect({ flags: 'A', seq: 5001, ack: 1001 });
  });
});
