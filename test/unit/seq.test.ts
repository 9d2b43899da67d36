import { describe, expect, it } from 'vitest';
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqLe, seqLt, seqMax, seqMin } from '../../src/tcp/seq.ts';

describe('sequence number arithmetic (RFC 9293 §3.4)', () => {
  it('compares across the 2^32 wrap', () => {
    expect(seqLt(0xffffff00, 0x10)).toBe(true);
    expect(seqGt(0x10, 0xffffff00)).toBe(true);
    expect(seqLe(5, 5)).toBe(true);
    expect(seqGe(5, 5)).toBe(true);
    expect(seqLt(5, 5)).toBe(false);
    expect(seqGt(0, 0xffffffff)).toBe(true);
  });

  it('adds and subtracts modulo 2^32', () => {
    expect(seqAdd(0xffffffff, 1)).toBe(0);
    expect(seqAdd(0, -1)).toBe(0xffffffff);
    expect(seqDiff(0x10, 0xfffffff0)).toBe(0x20);
    expect(seqDiff(0xfffffff0, 0x10)).toBe(-0x20);
  });

  it('max/min and ranges respect the wrap', () => {
    expect(seqMax(0xfffffff0, 0x5)).toBe(0x5);
    expect(seqMin(0xfffffff0, 0x5)).toBe(0xfffffff0);
    expect(seqInRange(0x2, 0xfffffff0, 0x10)).toBe(true);
    expect(seqInRange(0x10, 0xfffffff0, 0x10)).toBe(false);
    expect(seqInRange(0xfffffff0, 0xfffffff0, 0x10)).toBe(true);
  });

  it('a connection whose sequence numbers wrap still works end to end', async () => {
    const { TcpPeer } = await import('../helpers/tcp-peer.ts');
    const peer = new TcpPeer({ iss: 0xfffffff0 });
    const { conn } = peer.establishPassive({ irs: 0xffffff00 });
    conn.setNoDelay(true);
    conn.write(new Uint8Array(100).fill(1));
    peer.expect({ seq: 0xfffffff1, len: 100 });
    peer.send({ flags: 'A', seq: 0xffffff01, ack: (0xfffffff1 + 100) >>> 0, data: new Uint8Array(600).fill(2) });
    expect(conn.conn.getInfo()).toMatchObject({ sndUna: 0x55, rcvNxt: (0xffffff01 + 600) >>> 0 });
    expect(conn.read()).toHaveLength(600);
  });
});
