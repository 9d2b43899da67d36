// The application contract of src/tcp/api.ts, and the harness itself.
import { describe, expect, it } from 'vitest';
import { TcpPeer } from '../helpers/tcp-peer.ts';

describe('TcpConnection contract', () => {
  it('write returns what fit (0 when full); onWritable follows an ACK that frees space', () => {
    const peer = new TcpPeer({ config: { sndBuf: 4096 } });
    const { conn } = peer.establishPassive({ win: 1000 });
    expect(conn.conn.writableSpace).toBe(4096);
    expect(conn.write(new Uint8Array(5000))).toBe(4096);
    expect(conn.write(new Uint8Array(10))).toBe(0);
    expect(conn.conn.writableSpace).toBe(0);
    peer.drain();
    peer.send({ flags: 'A', seq: 1001, ack: 5501, win: 1000 });
    expect(conn.events).toEqual(['writable']);
    expect(conn.conn.writableSpace).toBe(500);
    expect(conn.conn.getInfo()).toMatchObject({ sndBufUsed: 3596, bytesSent: 4096 });
  });

  it('getInfo fills every field', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'abc' });
    const info = conn.conn.getInfo();
    expect(info).toEqual({
      state: 'ESTABLISHED',
      localAddress: '10.0.0.1',
      localPort: 80,
      remoteAddress: '10.0.0.2',
      remotePort: 40000,
      iss: 5000,
      sndUna: 5001,
      sndNxt: 5001,
      sndWnd: 65535,
      irs: 1000,
      rcvNxt: 1004,
      rcvWnd: 64237,
      mss: 1460,
      rcvMss: 536,
      rto: 200,
      srtt: 0,
      rttvar: 0,
      retransmits: 0,
      totalRetransmits: 0,
      cwnd: 14600,
      ssthresh: Infinity,
      congestionControl: 'cubic',
      recovery: 'none',
      fastRetransmits: 0,
      sackRecoveries: 0,
      rtoTimeouts: 0,
      retransmittedBytes: 0,
      sackedBytes: 0,
      lostBytes: 0,
      bytesInFlight: 0,
      sndBufUsed: 0,
      sndBufSize: 65536,
      rcvBufUsed: 3,
      rcvBufSize: 65536,
      oooBytes: 0,
      bytesReceived: 3,
      bytesSent: 0,
      noDelay: false,
      cork: false,
      // The peer's SYN offered no RFC 7323 / RFC 2018 options.
      windowScaling: false,
      sndWscale: 0,
      rcvWscale: 0,
      timestamps: false,
      tsRecent: 0,
      sackPermitted: false,
      dataOptionsLength: 0,
    });
  });

  it('per-connection buffer sizes and noDelay come from the listen/connect options', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive({ listen: { rcvBuf: 2048, sndBuf: 1024, noDelay: true } });
    expect(conn.conn.getInfo()).toMatchObject({ rcvBufSize: 2048, sndBufSize: 1024, noDelay: true });
  });

  it('onClose comes exactly once, after onEnd, and nothing follows it', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.send({ flags: 'FPA', seq: 1001, ack: 5001, data: 'last words' });
    conn.shutdown();
    peer.send({ flags: 'A', seq: 1012, ack: 5002 });
    conn.abort();
    expect(conn.events).toEqual(['readable', 'end', 'close']);
    // The bytes before the FIN stay readable after an orderly close.
    conn.read();
    expect(conn.receivedText).toBe('last words');
  });

  it('handlers may call back into the connection', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    const echo = conn.conn;
    echo.events = {
      onEstablished() {},
      onReadable() {
        const buf = new Uint8Array(echo.readableLength);
        echo.read(buf, peer.now);
        echo.write(buf, peer.now);
      },
      onWritable() {},
      onEnd() {
        echo.shutdown(peer.now);
      },
      onClose() {},
    };
    peer.send({ flags: 'PA', seq: 1001, ack: 5001, data: 'echo me' });
    peer.expect({ flags: 'PA', seq: 5001, ack: 1008, data: 'echo me' });
    peer.send({ flags: 'FA', seq: 1008, ack: 5008 });
    // The FIN is ACKed as the segment is processed; onEnd's shutdown follows.
    peer.expect({ flags: 'A', seq: 5008, ack: 1009 });
    peer.expect({ flags: 'FA', seq: 5008, ack: 1009 });
    expect(echo.state).toBe('LAST-ACK');
  });

  it('connections() lists SYN-RECEIVED and TIME-WAIT entries; nextDeadline is the earliest timer', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.shutdown();
    peer.send({ flags: 'FA', seq: 1001, ack: 5002 });
    peer.send({ flags: 'S', seq: 7000, srcPort: 4444 });
    expect([...peer.tcp.connections()].map((c) => c.state).sort()).toEqual(['SYN-RECEIVED', 'TIME-WAIT']);
    expect(peer.tcp.nextDeadline()).toBe(1000);
    peer.advance(1000);
    expect(peer.tcp.nextDeadline()).toBe(3000);
  });
});

describe('the harness', () => {
  it('fails with expected and actual in packetdrill-like text', () => {
    const peer = new TcpPeer();
    peer.listen();
    peer.send({ flags: 'S', seq: 1000, options: { mss: 1460 } });
    let message = '';
    try {
      peer.expect({ flags: 'A', ack: 1001 });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('segment mismatch (flags)');
    expect(message).toContain('expected  > A *:*(*) ack 1001 win * <*>');
    expect(message).toContain('actual    > SA 5000:5000(0) ack 1001 win 64240 <mss 1460> @0ms');
    expect(message).toContain('< S 1000:1000(0) win 65535 <mss 1460>');
  });

  it('expectNothing fails when something was sent', () => {
    const peer = new TcpPeer();
    peer.send({ flags: 'S', seq: 1 });
    expect(() => peer.expectNothing()).toThrow(/expected nothing, but the stack sent:\n {2}> RA 0:0\(0\) ack 2 win 0/);
  });
});
