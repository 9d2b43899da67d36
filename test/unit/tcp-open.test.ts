// Opening connections: passive, active and simultaneous (RFC 9293 §3.5).
import { describe, expect, it } from 'vitest';
import { TcpPeer } from '../helpers/tcp-peer.ts';

describe('passive open (LISTEN -> SYN-RECEIVED -> ESTABLISHED)', () => {
  it('answers a SYN with SYN-ACK carrying our MSS, and the ACK establishes', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000, win: 65535, options: { mss: 1460 } });
    // Our window: the free ring (64 KiB) capped at 65535, in whole segments: 44 * 1460.
    peer.expect({ flags: 'SA', seq: 5000, ack: 1001, win: 64240, options: { mss: 1460 } });
    expect(server.listener.getInfo()).toMatchObject({ synQueueLength: 1, acceptQueueLength: 0 });
    const [entry] = [...peer.tcp.connections()];
    expect(entry?.state).toBe('SYN-RECEIVED');
    expect(server.accept()).toBeUndefined();

    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    peer.expectNothing();
    expect(server.acceptableCalls).toBe(1);
    expect(server.listener.getInfo()).toMatchObject({ synQueueLength: 0, acceptQueueLength: 1 });
    const conn = server.accept();
    expect(conn?.state).toBe('ESTABLISHED');
    expect(conn?.conn.getInfo()).toMatchObject({ iss: 5000, irs: 1000, sndUna: 5001, sndNxt: 5001, rcvNxt: 1001, mss: 1460 });
    expect(peer.tcp.stats.passiveOpens).toBe(1);
  });

  it('data on the final ACK of the handshake is delivered once accepted', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000, options: { mss: 1460 } });
    peer.expect({ flags: 'SA', ack: 1001 });
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'hello' });
    const conn = server.accept()!;
    // Events that happened before the handlers existed are delivered on assignment.
    expect(conn.events).toEqual(['readable']);
    peer.advance(10);
    expect(conn.read()).toEqual(new TextEncoder().encode('hello'));
    // The application consumed everything up to a PSH: the delayed ACK is due now.
    peer.advance(0);
    peer.expect({ flags: 'A', seq: 5001, ack: 1006, at: 10 });
  });

  it('uses MSS 536 when the SYN has no MSS option (RFC 9293 §3.7.1)', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000 });
    peer.expect({ flags: 'SA', options: { mss: 1460 } });
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    expect(server.accept()!.conn.getInfo().mss).toBe(536);
  });

  it('re-sends the SYN-ACK when the SYN is retransmitted', () => {
    const peer = new TcpPeer();
    peer.listen();
    peer.send({ flags: 'S', seq: 1000, options: { mss: 1460 } });
    peer.expect({ flags: 'SA', seq: 5000, ack: 1001 });
    peer.advance(300);
    peer.send({ flags: 'S', seq: 1000, options: { mss: 1460 } });
    peer.expect({ flags: 'SA', seq: 5000, ack: 1001, at: 300 });
  });

  it('a different SYN in the window of a SYN-RECEIVED entry frees it (RFC 9293 §3.10.7.4, fourth)', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000 });
    peer.expect({ flags: 'SA', ack: 1001 });
    peer.send({ flags: 'S', seq: 1500 });
    peer.expectNothing();
    expect(peer.tcp.connectionCount).toBe(0);
    expect(server.listener.getInfo().synQueueLength).toBe(0);
  });

  it('SYN+FIN to a listener is dropped and counted as malformed', () => {
    const peer = new TcpPeer();
    peer.listen();
    peer.send({ flags: 'SF', seq: 1000 });
    peer.expectNothing();
    expect(peer.tcp.stats.malformed).toBe(1);
    expect(peer.tcp.connectionCount).toBe(0);
  });

  it('an ACK to a listener gets <SEQ=SEG.ACK><CTL=RST>', () => {
    const peer = new TcpPeer();
    peer.listen();
    peer.send({ flags: 'A', seq: 1000, ack: 777 });
    peer.expect({ flags: 'R', seq: 777 });
    peer.send({ flags: 'R', seq: 1000 });
    peer.expectNothing();
  });

  it('a bad ACK in SYN-RECEIVED gets an RST and the entry stays', () => {
    const peer = new TcpPeer();
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000 });
    peer.expect({ flags: 'SA', ack: 1001 });
    peer.send({ flags: 'A', seq: 1001, ack: 9999 });
    peer.expect({ flags: 'R', seq: 9999 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    expect(server.accept()?.state).toBe('ESTABLISHED');
  });
});

describe('active open (SYN-SENT -> ESTABLISHED)', () => {
  it('sends SYN with MSS, completes on SYN-ACK with an ACK, and reports onEstablished', () => {
    const peer = new TcpPeer({ ourPort: 50000, peerPort: 80 });
    const client = peer.connect();
    expect(client.state).toBe('SYN-SENT');
    // Our SYN also offers SACK, timestamps (TSecr 0: nothing to echo yet) and
    // window scaling (shift 1 for the 64 KiB ring); this SYN-ACK takes none.
    peer.expect({
      flags: 'S',
      seq: 5000,
      win: 65535,
      options: { mss: 1460, sackPermitted: true, timestamps: { value: 0, echo: 0 }, windowScale: 1 },
    });
    peer.send({ flags: 'SA', seq: 9000, ack: 5001, win: 29200, options: { mss: 1400 } });
    peer.expect({ flags: 'A', seq: 5001, ack: 9001, win: 65535 });
    expect(client.state).toBe('ESTABLISHED');
    expect(client.events).toEqual(['established']);
    expect(client.conn.getInfo()).toMatchObject({ mss: 1400, sndWnd: 29200, irs: 9000 });
    expect(peer.tcp.stats.activeOpens).toBe(1);
  });

  it('data written before the handshake completes goes out right after it', () => {
    const peer = new TcpPeer({ ourPort: 50000, peerPort: 80 });
    const client = peer.connect();
    peer.expect({ flags: 'S' });
    expect(client.write('early')).toBe(5);
    peer.expectNothing();
    peer.send({ flags: 'SA', seq: 9000, ack: 5001, options: { mss: 1460 } });
    peer.expect({ flags: 'PA', seq: 5001, ack: 9001, data: 'early' });
    peer.expectNothing();
  });

  it('an ACK for something other than our SYN in SYN-SENT gets an RST, and the SYN-ACK still works after', () => {
    const peer = new TcpPeer({ ourPort: 50000, peerPort: 80 });
    const client = peer.connect();
    peer.expect({ flags: 'S', seq: 5000 });
    peer.send({ flags: 'SA', seq: 9000, ack: 4000 });
    peer.expect({ flags: 'R', seq: 4000 });
    expect(client.state).toBe('SYN-SENT');
    peer.send({ flags: 'SA', seq: 9000, ack: 5001 });
    peer.expect({ flags: 'A', ack: 9001 });
    expect(client.state).toBe('ESTABLISHED');
  });

  it('ignores a segment with neither SYN nor RST in SYN-SENT', () => {
    const peer = new TcpPeer({ ourPort: 50000, peerPort: 80 });
    const client = peer.connect();
    peer.expect({ flags: 'S' });
    peer.send({ flags: 'A', seq: 9000, ack: 5001 });
    peer.expectNothing();
    expect(client.state).toBe('SYN-SENT');
  });

  it('picks a random ephemeral port when none is given', () => {
    const peer = new TcpPeer({ random: () => 0.5 });
    const conn = peer.tcp.connect({ remoteAddress: peer.peerAddress, remotePort: 80 }, 0);
    expect(conn.localPort).toBe(49152 + Math.floor(0.5 * (65535 - 49152 + 1)));
    const second = peer.tcp.connect({ remoteAddress: peer.peerAddress, remotePort: 80 }, 0);
    expect(second.localPort).toBe(conn.localPort + 1);
  });

  it('refuses a 4-tuple that is taken with EADDRINUSE', () => {
    const peer = new TcpPeer();
    peer.connect();
    expect(() => peer.connect()).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    peer.listen();
    expect(() => peer.listen()).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
  });
});

describe('simultaneous open (RFC 9293 §3.5 figure 7)', () => {
  it('SYN-SENT -> SYN-RECEIVED on a SYN, ESTABLISHED on the SYN-ACK', () => {
    const peer = new TcpPeer({ ourPort: 50000, peerPort: 6000 });
    const client = peer.connect();
    peer.expect({ flags: 'S', seq: 5000 });
    peer.send({ flags: 'S', seq: 9000, options: { mss: 1460 } });
    peer.expect({ flags: 'SA', seq: 5000, ack: 9001, options: { mss: 1460 } });
    expect(client.state).toBe('SYN-RECEIVED');
    // The peer's own SYN-ACK crosses ours.
    peer.send({ flags: 'SA', seq: 9000, ack: 5001, options: { mss: 1460 } });
    expect(client.state).toBe('ESTABLISHED');
    expect(client.events).toEqual(['established']);
    peer.expectNothing();
    client.write('x');
    peer.expect({ flags: 'PA', seq: 5001, ack: 9001, data: 'x' });
  });

  it('SYN-RECEIVED -> ESTABLISHED on a plain ACK too', () => {
    const peer = new TcpPeer({ ourPort: 50000, peerPort: 6000 });
    const client = peer.connect();
    peer.expect({ flags: 'S', seq: 5000 });
    peer.send({ flags: 'S', seq: 9000 });
    peer.expect({ flags: 'SA', seq: 5000, ack: 9001 });
    peer.send({ flags: 'A', seq: 9001, ack: 5001 });
    expect(client.state).toBe('ESTABLISHED');
    expect(client.events).toEqual(['established']);
  });
});
