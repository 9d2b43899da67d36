// ACK coalescing within a batch of input (Tcp.beginBatch/endBatch) and the
// batched writes of the Stack (beginWrites/endWrites).
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/ip/address.ts';
import { Stack } from '../../src/stack/stack.ts';
import { TcpPeer } from '../helpers/tcp-peer.ts';

const fill = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

describe('ACK coalescing within a batch', () => {
  it('four full-sized segments in one batch: one cumulative ACK at the end of the batch', () => {
    const peer = new TcpPeer();
    peer.establishPassive();
    peer.tcp.beginBatch();
    for (let i = 0; i < 4; i++) peer.send({ flags: 'A', seq: 1001 + i * 1460, ack: 5001, data: fill(1460, i) });
    peer.expectNothing();
    peer.tcp.endBatch(peer.now);
    peer.expect({ flags: 'A', seq: 5001, ack: 1001 + 4 * 1460, len: 0 });
    peer.expectNothing();
    // Nothing owed any more: the delayed-ACK timer is off.
    peer.advance(100);
    peer.expectNothing();
  });

  it('one segment in a batch keeps the delayed-ACK rule (no ACK at the end, one at 40 ms)', () => {
    const peer = new TcpPeer();
    peer.establishPassive();
    peer.tcp.beginBatch();
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(1460) });
    peer.tcp.endBatch(peer.now);
    peer.expectNothing();
    peer.advance(40);
    peer.expect({ flags: 'A', ack: 2461, at: 40 });
  });

  it('out-of-order segments still get an immediate duplicate ACK each (RFC 5681 §4.2)', () => {
    const peer = new TcpPeer();
    peer.establishPassive();
    peer.tcp.beginBatch();
    peer.send({ flags: 'A', seq: 1001 + 1460, ack: 5001, data: fill(1460) });
    peer.expect({ flags: 'A', ack: 1001, len: 0 });
    peer.send({ flags: 'A', seq: 1001 + 2 * 1460, ack: 5001, data: fill(1460) });
    peer.expect({ flags: 'A', ack: 1001, len: 0 });
    peer.tcp.endBatch(peer.now);
    peer.expectNothing();
  });

  it('data sent during the batch carries the ACK: no separate pure ACK at the end', () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.tcp.beginBatch();
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(1460) });
    peer.send({ flags: 'A', seq: 2461, ack: 5001, data: fill(1460) });
    conn.write('reply');
    peer.expect({ flags: 'PA', ack: 3921, data: 'reply' });
    peer.tcp.endBatch(peer.now);
    peer.expectNothing();
  });

  it('a long batch still ACKs at least every 64 KB', () => {
    const peer = new TcpPeer({ config: { rcvBuf: 1 << 20 } });
    const server = peer.listen();
    peer.send({ flags: 'S', seq: 1000, options: { mss: 1460, windowScale: 7 } });
    peer.expect({ flags: 'SA', ack: 1001 });
    peer.send({ flags: 'A', seq: 1001, ack: 5001 });
    const conn = server.accept({ autoRead: true });
    expect(conn).toBeDefined();
    peer.tcp.beginBatch();
    // 64 KB = 44.9 segments of 1460: the 45th makes the ACK due at once.
    for (let i = 0; i < 50; i++) peer.send({ flags: 'A', seq: 1001 + i * 1460, ack: 5001, data: fill(1460, i) });
    peer.expect({ flags: 'A', ack: 1001 + 45 * 1460, len: 0 });
    peer.expectNothing();
    peer.tcp.endBatch(peer.now);
    peer.expect({ flags: 'A', ack: 1001 + 50 * 1460, len: 0 });
  });

  it("the peer's FIN in a batch: our FIN, written as the batch ends, carries its ACK (one segment, not two)", () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.tcp.beginBatch();
    peer.send({ flags: 'FA', seq: 1001, ack: 5001 });
    peer.tcp.endBatch(peer.now);
    expect(conn.state).toBe('CLOSE-WAIT');
    peer.expectNothing();
    // The application closes on end of stream, before the next timer poll.
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001, ack: 1002, at: 0 });
    peer.expectNothing();
    peer.advance(100);
    peer.expectNothing();
  });

  it("the peer's FIN in a batch: an application that does not close gets it ACKed at the next poll", () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    peer.tcp.beginBatch();
    peer.send({ flags: 'FA', seq: 1001, ack: 5001 });
    peer.tcp.endBatch(peer.now);
    peer.expectNothing();
    // Due now: the first poll (no later than a timer tick) sends it.
    peer.advance(0);
    peer.expect({ flags: 'A', seq: 5001, ack: 1002, len: 0, at: 0 });
    expect(conn.state).toBe('CLOSE-WAIT');
    peer.advance(100);
    peer.expectNothing();
  });

  it("the peer's FIN in a batch while we are closing (FIN-WAIT-2) is ACKed at once", () => {
    const peer = new TcpPeer();
    const { conn } = peer.establishPassive();
    conn.shutdown();
    peer.expect({ flags: 'FA', seq: 5001, ack: 1001 });
    peer.send({ flags: 'A', seq: 1001, ack: 5002 });
    expect(conn.state).toBe('FIN-WAIT-2');
    peer.tcp.beginBatch();
    peer.send({ flags: 'FA', seq: 1001, ack: 5002 });
    peer.tcp.endBatch(peer.now);
    peer.expect({ flags: 'A', seq: 5002, ack: 1002, len: 0, at: 0 });
    expect(conn.state).toBe('TIME-WAIT');
  });

  it('outside a batch nothing is deferred', () => {
    const peer = new TcpPeer();
    peer.establishPassive();
    peer.send({ flags: 'A', seq: 1001, ack: 5001, data: fill(1460) });
    peer.send({ flags: 'A', seq: 2461, ack: 5001, data: fill(1460) });
    peer.expect({ flags: 'A', ack: 3921, at: 0 });
  });
});

describe('Stack batched writes', () => {
  it('collects what is sent between beginWrites and endWrites and hands it over in one batch', () => {
    const singles: Uint8Array[] = [];
    const batches: (readonly Uint8Array[])[] = [];
    const stack = new Stack(
      { address: parseIpv4('10.0.0.1') },
      (p) => singles.push(p),
      (ps) => batches.push(ps),
    );
    const a = new Uint8Array([1]);
    const b = new Uint8Array([2]);
    stack.send(a);
    expect(singles).toEqual([a]);
    stack.beginWrites();
    stack.beginWrites();
    stack.send(b);
    stack.send(a);
    stack.endWrites();
    expect(batches).toEqual([]);
    stack.endWrites();
    expect(batches).toHaveLength(1);
    expect(batches[0]).toEqual([b, a]);
    expect(stack.stats.ipPacketsOut).toBe(3);
    // A batch of one is a plain send; an empty batch sends nothing.
    stack.beginBatch();
    stack.send(b);
    stack.endBatch(0);
    stack.beginBatch();
    stack.endBatch(0);
    expect(singles).toEqual([a, b]);
    expect(batches).toHaveLength(1);
  });
});
