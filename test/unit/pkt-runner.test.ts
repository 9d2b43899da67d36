import { describe, expect, it } from 'vitest';
import { runScript, type ScriptResult } from '../../src/pkt/runner.ts';

/** Listener on 8080, one connection accepted as fd 4; 100 ms handshake RTT. */
const PASSIVE = [
  '0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
  '+0  bind(3, ..., ...) = 0',
  '+0  listen(3, 1) = 0',
  '+0  < S 0:0(0) win 65535 <mss 1460>',
  '+0  > S. 0:0(0) ack 1 <mss 1460>',
  '+.1 < . 1:1(0) ack 1 win 65535',
  '+0  accept(3, ..., ...) = 4',
];

function script(...lines: string[]): string {
  return lines.join('\n');
}

function run(src: string, options: Parameters<typeof runScript>[1] = {}): ScriptResult {
  return runScript(src, options);
}

function failure(r: ScriptResult): Extract<ScriptResult, { status: 'fail' }> {
  if (r.status !== 'fail') throw new Error(`expected a failure, got ${JSON.stringify(r)}`);
  return r;
}

describe('pkt runner: outcomes', () => {
  it('passes a correct exchange', () => {
    expect(run(script(...PASSIVE, '+0 write(4, ..., 10) = 10', '+0 > P. 1:11(10) ack 1'))).toEqual({ status: 'pass' });
  });

  it('fails a wrong packet with its line, the expected and the actual packet in script form', () => {
    const r = failure(run(script(...PASSIVE, '+0 write(4, ..., 10) = 10', '+0 > P. 1:11(10) ack 1 win 1000')));
    expect(r.line).toBe(9);
    expect(r.expected).toBe('> P. 1:11(10) ack 1 win 1000');
    expect(r.actual).toBe('> P. 1:11(10) ack 1 win 64240');
    expect(r.message).toBe('expected > P. 1:11(10) ack 1 win 1000 got > P. 1:11(10) ack 1 win 64240 (tcp_window: expected 1000, actual 64240)');
  });

  it('checks options exactly: none given means none allowed, <...> means any', () => {
    const noOptions = failure(run(script('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3', '+0 bind(3, ..., ...) = 0', '+0 listen(3, 1) = 0', '+0 < S 0:0(0) win 1000', '+0 > S. 0:0(0) ack 1')));
    expect(noOptions.line).toBe(5);
    expect(noOptions.message).toMatch(/tcp options: expected <>, actual <mss 1460>/);
    expect(run(script('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3', '+0 bind(3, ..., ...) = 0', '+0 listen(3, 1) = 0', '+0 < S 0:0(0) win 1000', '+0 > S. 0:0(0) ack 1 <...>')).status).toBe('pass');
  });

  it('reports a packet the stack never sent', () => {
    const r = failure(run(script(...PASSIVE, '+0 > P. 1:11(10) ack 1')));
    expect(r.line).toBe(8);
    expect(r.message).toMatch(/^expected > P\. 1:11\(10\) ack 1 at 0\.100000 sec but no packet was sent/);
  });

  it('reports a failed system call with expected and actual results', () => {
    const r = failure(run(script(...PASSIVE, '+0 read(4, ..., 10) = 10')));
    expect(r.line).toBe(8);
    expect(r.message).toMatch(/read\(\) would block/);
    const e = failure(run(script(...PASSIVE, '+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0', '+0 read(4, ..., 10) = -1 ECONNRESET')));
    expect(e.message).toBe('read() returned -1 EAGAIN, expected -1 ECONNRESET');
  });

  it('fails on packets the script never accounted for, unless tolerant', () => {
    const src = script(...PASSIVE, '+0 write(4, ..., 10) = 10', '+1 close(4) = 0');
    const r = failure(run(src));
    expect(r.message).toMatch(/unexpected outbound packet at 0\.100000 sec .*P\. 1:11\(10\) ack 1/);
    expect(run(src, { tolerant: true }).status).toBe('pass');
  });

  it('evaluates tcpi_ assertions and names the values when one fails', () => {
    expect(run(script(...PASSIVE, '+0 %{ assert tcpi_state == TCP_ESTABLISHED and tcpi_snd_cwnd == 10 }%')).status).toBe('pass');
    expect(run(script(...PASSIVE, '+0 %{ assert tcpi_rto == 300000; assert tcpi_retransmits == 0 }%')).status).toBe('pass');
    const r = failure(run(script(...PASSIVE, '+0 %{ assert tcpi_snd_cwnd * 2 > 25, tcpi_snd_cwnd }%')));
    expect(r.line).toBe(8);
    expect(r.message).toBe('assertion failed: tcpi_snd_cwnd * 2 > 25 (tcpi_snd_cwnd = 10)');
  });

  it('never crashes: what it cannot run is unsupported, what is not a script fails with a line', () => {
    expect(run(script(...PASSIVE, '+0 poll([{fd=4, events=POLLIN}], 1, 0) = 0'))).toEqual({ status: 'unsupported', feature: 'system call poll', line: 8 });
    expect(run(script('0 `sysctl -q net.ipv4.tcp_ecn=1`'))).toMatchObject({ status: 'unsupported', feature: expect.stringMatching(/no ECN yet/) });
    expect(run(script('0 `sysctl -q net.ipv4.tcp_ecn=0`')).status).toBe('pass');
    expect(run(script('0 `tc qdisc add dev tun0 root netem loss 1%`'))).toMatchObject({ status: 'unsupported', feature: expect.stringMatching(/^command/) });
    expect(run(script('0 < udp (10)'))).toMatchObject({ status: 'unsupported', feature: 'udp packets' });
    expect(run(script(...PASSIVE, '+0 %{ import os; os.system("x") }%'))).toMatchObject({ status: 'unsupported' });
    expect(run('this is not a script')).toMatchObject({ status: 'fail', line: 1 });
    expect(run('')).toMatchObject({ status: 'fail' });
  });
});

describe('pkt runner: timing', () => {
  const delack = (ackTime: string, options = ''): string =>
    script(options, ...PASSIVE, '+.1 < . 1:1001(1000) ack 1 win 65535', `${ackTime} > . 1:1(0) ack 1001`);

  it('accepts a packet within 4 ms of its time and fails it outside, naming the times', () => {
    expect(run(delack('+.04')).status).toBe('pass');
    expect(run(delack('+.037')).status).toBe('pass');
    const r = failure(run(delack('+.03')));
    expect(r.line).toBe(10);
    expect(r.message).toBe('timing error: expected outbound packet at 0.230000 sec but happened at 0.240000 sec; tolerance 0.004000 sec');
  });

  it('widens the tolerance to 12.5% of the gap since the previous event', () => {
    // The ACK comes 40 ms after the data; a 0.1 s gap allows 12.5 ms.
    const src = script(...PASSIVE, '+.1 < . 1:1001(1000) ack 1 win 65535', '+0.1 > . 1:1(0) ack 1001');
    expect(failure(run(src)).message).toMatch(/tolerance 0\.012500 sec/);
    // A 45 ms gap allows 5.6 ms: 40 ms is in.
    const ok = script(...PASSIVE, '+.1 < . 1:1001(1000) ack 1 win 65535', '+0.045 > . 1:1(0) ack 1001');
    expect(run(ok).status).toBe('pass');
  });

  it('honours --tolerance_usecs and time ranges', () => {
    expect(run(delack('+.03', '--tolerance_usecs=10000')).status).toBe('pass');
    expect(run(delack('+.02~+.05')).status).toBe('pass');
    expect(failure(run(delack('+.001~+.02'))).message).toMatch(/in time range/);
    expect(run(delack('*')).status).toBe('pass');
  });

  it('anchors consecutive inbound packets on script time and everything else on now', () => {
    // The outbound ACK leaves at 0.24; "+.1" after it is 0.34, and the data
    // ACK'd after the delayed-ACK timer at 0.38.
    const src = script(...PASSIVE, '+.1 < . 1:1001(1000) ack 1 win 65535', '+.04 > . 1:1(0) ack 1001', '+.1 < . 1001:2001(1000) ack 1 win 65535', '0.38 > . 1:1(0) ack 2001');
    expect(run(src).status).toBe('pass');
  });

  it('refuses a script whose first event is not at time 0', () => {
    expect(failure(run('1 close(3) = 0')).message).toBe('first event should be at time 0');
  });
});

describe('pkt runner: blocking calls', () => {
  it('returns a blocking accept when the handshake completes, at the time the script says', () => {
    const src = (end: string): string =>
      script('0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3', '+0 bind(3, ..., ...) = 0', '+0 listen(3, 1) = 0', `+0...${end} accept(3, ..., ...) = 4`, '+.1 < S 0:0(0) win 65535 <mss 1460>', '+0 > S. 0:0(0) ack 1 <mss 1460>', '+.1 < . 1:1(0) ack 1 win 65535');
    expect(run(src('0.2')).status).toBe('pass');
    const r = failure(run(src('0.5')));
    expect(r.line).toBe(4);
    expect(r.message).toBe('timing error: expected system call return at 0.500000 sec but happened at 0.200000 sec; tolerance 0.062500 sec');
  });

  it('fails a blocking call that is still blocked past its return time', () => {
    const r = failure(run(script(...PASSIVE, '+0...0.1 read(4, ..., 10) = 10', '+.5 < . 1:1(0) ack 1 win 65535')));
    expect(r.line).toBe(8);
    expect(r.message).toMatch(/expected read\(\) to return at 0\.200000 sec but it was still blocked/);
    expect(failure(run(script(...PASSIVE, '+0...0.1 read(4, ..., 10) = 10'))).message).toMatch(/still blocked/);
  });

  it('completes a blocking read with the bytes that arrive, checking its result then', () => {
    expect(run(script(...PASSIVE, '+0...0.05 read(4, ..., 1000) = 100', '+.05 < P. 1:101(100) ack 1 win 65535', '+0 > . 1:1(0) ack 101')).status).toBe('pass');
    const r = failure(run(script(...PASSIVE, '+0...0.05 read(4, ..., 1000) = 99', '+.05 < P. 1:101(100) ack 1 win 65535')));
    expect(r.line).toBe(8);
    expect(r.message).toBe('read() returned 100, expected 99');
  });

  it('blocks a write until the send ring has room for all of it', () => {
    const src = script(
      '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
      '+0 setsockopt(3, SOL_SOCKET, SO_SNDBUF, [4096], 4) = 0',
      '+0 bind(3, ..., ...) = 0',
      '+0 listen(3, 1) = 0',
      '+0 < S 0:0(0) win 65535 <mss 1000>',
      '+0 > S. 0:0(0) ack 1 <mss 1460>',
      '+.1 < . 1:1(0) ack 1 win 65535',
      '+0 accept(3, ..., ...) = 4',
      '+0...0.1 write(4, ..., 5000) = 5000',
      '+0 > . 1:1001(1000) ack 1',
      '+0 > . 1001:2001(1000) ack 1',
      '+0 > . 2001:3001(1000) ack 1',
      '+0 > . 3001:4001(1000) ack 1',
      // The ACK frees the ring; the 96 bytes that filled it leave first, then
      // the rest of the write is copied in and waits for their ACK (Nagle).
      '+.1 < . 1:1(0) ack 4001 win 65535',
      '+0 > P. 4001:4097(96) ack 1',
      '+.1 < . 1:1(0) ack 4097 win 65535',
      '+0 > P. 4097:5001(904) ack 1',
    );
    expect(run(src).status).toBe('pass');
    expect(failure(run(src.replace('+0...0.1 write', '+0...0.3 write'))).message).toMatch(/expected system call return at 0\.400000 sec but happened at 0\.200000/);
  });
});

describe('pkt runner: sequence-number mapping', () => {
  it("numbers the peer's segments from its ISN and ours from our ISN, SYNs absolute", () => {
    const src = script(
      '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
      '+0 bind(3, ..., ...) = 0',
      '+0 listen(3, 1) = 0',
      '+0 < S 4000000000:4000000000(0) win 65535 <mss 1460>',
      // The script may give our ISN any value: later segments count from it.
      '+0 > S. 5000:5000(0) ack 4000000001 <mss 1460>',
      '+.1 < P. 1:11(10) ack 1 win 65535',
      '+0 accept(3, ..., ...) = 4',
      '+0 write(4, ..., 5) = 5',
      '+0 > P. 1:6(5) ack 11',
    );
    expect(run(src).status).toBe('pass');
  });

  it('wraps sequence numbers around 2^32', () => {
    const src = script(
      '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
      '+0 bind(3, ..., ...) = 0',
      '+0 listen(3, 1) = 0',
      '+0 < S 4294967290:4294967290(0) win 65535 <mss 1460>',
      '+0 > S. 0:0(0) ack 4294967291 <mss 1460>',
      '+.1 < P. 1:21(20) ack 1 win 65535',
      '+0 accept(3, ..., ...) = 4',
      '+0 read(4, ..., 100) = 20',
      '+0 > . 1:1(0) ack 21',
    );
    expect(run(src).status).toBe('pass');
  });

  it('maps an active open from our SYN', () => {
    const src = script(
      '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
      '+0...0.1 connect(3, ..., ...) = 0',
      '+0 > S 0:0(0) <mss 1460,sackOK,TS val 0 ecr 0,nop,wscale 1>',
      '+.1 < S. 777:777(0) ack 1 win 65535 <mss 1460>',
      '+0 > . 1:1(0) ack 778',
    );
    expect(failure(run(src)).message).toMatch(/tcp_ack_seq: expected 778, actual 1/);
    expect(run(src.replace('ack 778', 'ack 1')).status).toBe('pass');
  });

  it('keeps flows with explicit ports apart', () => {
    const src = script(
      '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
      '+0 bind(3, ..., ...) = 0',
      '+0 listen(3, 5) = 0',
      '+0 < 50001>8080 S 100:100(0) win 65535 <mss 1460>',
      '+0 > 8080>50001 S. 0:0(0) ack 101 <mss 1460>',
      '+0 < 50002>8080 S 900:900(0) win 65535 <mss 1460>',
      '+0 > 8080>50002 S. 0:0(0) ack 901 <mss 1460>',
      '+0 < 50002>8080 . 1:1(0) ack 1 win 65535',
      '+0 < 50001>8080 . 1:1(0) ack 1 win 65535',
      '+0 accept(3, ..., ...) = 4',
      '+0 accept(3, ..., ...) = 5',
    );
    expect(run(src).status).toBe('pass');
    expect(failure(run(src.replace('> 8080>50002 S. 0:0(0) ack 901', '> 8080>50003 S. 0:0(0) ack 901'))).message).toMatch(/ports differ/);
  });
});

describe('pkt runner: modes, profiles, commands', () => {
  const reordered = script(
    '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
    '+0 bind(3, ..., ...) = 0',
    '+0 listen(3, 1) = 0',
    '+0 < S 0:0(0) win 65535 <mss 1460>',
    '+0 > S. 0:0(0) ack 1 <nop,nop,nop,nop,mss 1460>',
  );

  it('tolerant mode ignores NOP padding and option order', () => {
    expect(failure(run(reordered)).message).toMatch(/tcp options/);
    expect(run(reordered, { tolerant: true }).status).toBe('pass');
  });

  it('the linux profile admits backlog + 1 connections, ours exactly backlog', () => {
    const src = script(
      '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
      '+0 bind(3, ..., ...) = 0',
      '+0 listen(3, 1) = 0',
      '+0 < 50001>8080 S 0:0(0) win 65535 <mss 1460>',
      '+0 > 8080>50001 S. 0:0(0) ack 1 <mss 1460>',
      '+0 < 50001>8080 . 1:1(0) ack 1 win 65535',
      '+0 < 50002>8080 S 0:0(0) win 65535 <mss 1460>',
      '+0 > 8080>50002 S. 0:0(0) ack 1 <mss 1460>',
    );
    expect(run(src, { profile: 'linux' }).status).toBe('pass');
    expect(failure(run(src)).message).toMatch(/no packet was sent/);
  });

  it('the freebsd profile delays ACKs by 100 ms', () => {
    const src = script(...PASSIVE, '+.1 < . 1:1001(1000) ack 1 win 65535', '+.1 > . 1:1(0) ack 1001');
    expect(run(src, { profile: 'freebsd' }).status).toBe('pass');
    expect(run(src).status).toBe('fail');
    expect(run(src, { profile: 'solaris' })).toMatchObject({ status: 'unsupported' });
  });

  it('applies sysctls before the stack starts, refuses changes after', () => {
    const before = script('0 `sysctl -q net.inet.tcp.delacktime=200`', ...PASSIVE.map((l, i) => (i === 0 ? l.replace(/^0 /, '+0') : l)), '+.1 < . 1:1001(1000) ack 1 win 65535', '+.2 > . 1:1(0) ack 1001');
    expect(run(before).status).toBe('pass');
    expect(run(script(...PASSIVE, '+0 `sysctl -q tuntcp.delAckMs=200`'))).toMatchObject({ status: 'unsupported', line: 8 });
    expect(run(script(...PASSIVE, '+0 `sysctl -q tuntcp.delAckMs=40`')).status).toBe('pass');
  });

  it('answers sockstat | grep from the connection table', () => {
    expect(run(script(...PASSIVE, '+0 `sockstat -4 -s | grep -q ESTABLISHED`', '+0 `sockstat | grep -q LISTEN`')).status).toBe('pass');
    expect(failure(run(script(...PASSIVE, '+0 `sockstat -4 | grep -q TIME_WAIT`'))).message).toMatch(/command failed/);
  });

  it('-D symbols select #ifdef branches', () => {
    const src = script('#ifdef SLOW', '--tolerance_usecs=100000', '#endif', ...PASSIVE, '+.1 < . 1:1001(1000) ack 1 win 65535', '+.1 > . 1:1(0) ack 1001');
    expect(run(src).status).toBe('fail');
    expect(run(src, { defines: { SLOW: '1' } }).status).toBe('pass');
  });
});
