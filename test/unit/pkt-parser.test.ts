import { describe, expect, it } from 'vitest';
import type { PacketEvent, ScriptEvent, SyscallEvent, TcpPacketSpec } from '../../src/pkt/ast.ts';
import { tokenize } from '../../src/pkt/lexer.ts';
import { PktSyntaxError, PktUnsupportedError, parseScript, preprocess } from '../../src/pkt/parser.ts';
import { ACK, CWR, ECE, FIN, PSH, RST, SYN, URG } from '../../src/tcp/flags.ts';

function events(src: string, defines?: Record<string, string>): ScriptEvent[] {
  return parseScript(src, defines === undefined ? {} : { defines }).events;
}

function packet(src: string): TcpPacketSpec {
  const ev = events(src)[0]!;
  if (ev.type !== 'packet') throw new Error(`not a packet: ${ev.type}`);
  return ev.packet;
}

function syscall(src: string): SyscallEvent {
  const ev = events(src)[0]!;
  if (ev.type !== 'syscall') throw new Error(`not a syscall: ${ev.type}`);
  return ev;
}

function syntaxError(src: string): PktSyntaxError {
  try {
    parseScript(src);
  } catch (e) {
    if (e instanceof PktSyntaxError) return e;
    throw e;
  }
  throw new Error('expected a syntax error');
}

describe('pkt lexer', () => {
  it('splits flags, floats, sequence ranges and ellipses the way flex does', () => {
    const kinds = (s: string): string[] => tokenize(s).map((t) => `${t.kind}:${t.text}`).slice(0, -1);
    expect(kinds('S. 1:1001(1000)')).toEqual(['word:S', 'punct:.', 'integer:1', 'punct::', 'integer:1001', 'punct:(', 'integer:1000', 'punct:)']);
    expect(kinds('+.1 < .')).toEqual(['punct:+', 'float:.1', 'punct:<', 'punct:.']);
    expect(kinds('+0...0.25 read')).toEqual(['punct:+', 'integer:0', 'ellipsis:...', 'float:0.25', 'word:read']);
    expect(kinds('192.0.2.1 0x802 -1')).toEqual(['ipv4:192.0.2.1', 'hex:0x802', 'integer:-1']);
    expect(kinds('--tolerance_usecs=100')).toEqual(['option:tolerance_usecs', 'punct:=', 'integer:100']);
  });

  it('keeps line numbers across comments, strings and code blocks', () => {
    const toks = tokenize('/* a\nb */ x // c\n"s\nt" `cmd`\n%{ a\nb }% y');
    const byText = Object.fromEntries(toks.map((t) => [t.text, t.line]));
    expect(byText.x).toBe(2);
    expect(byText['s\nt']).toBe(3);
    expect(byText.cmd).toBe(4);
    expect(byText['a\nb']).toBe(5);
    expect(byText.y).toBe(6);
  });

  it('reports unterminated constructs with the line they start on', () => {
    expect(() => tokenize('x\n/* never closed')).toThrow(/line 2: unterminated \/\* comment/);
    expect(() => tokenize('x\ny\n`sysctl')).toThrow(/line 3: unterminated `command`/);
    expect(() => tokenize('%{ assert 1')).toThrow(/line 1: unterminated %\{ code block/);
  });
});

describe('pkt parser: options, preprocessor, defines', () => {
  it('parses option lines before the first event, including -D', () => {
    const s = parseScript('--tolerance_usecs=10000\n--mss=1000\n--strict_segments\n-D FOO=bar\n--define=BAZ=1\n0 close(3) = 0');
    expect(s.options.map((o) => [o.name, o.value, o.line])).toEqual([
      ['tolerance_usecs', '10000', 1],
      ['mss', '1000', 2],
      ['strict_segments', null, 3],
      ['define', 'FOO=bar', 4],
      ['define', 'BAZ=1', 5],
    ]);
    expect(s.defines.get('FOO')).toBe('bar');
    expect(s.defines.get('BAZ')).toBe('1');
  });

  it('substitutes defined words, as packetdrill does for WORD tokens', () => {
    const p = packet('--define=WIN=1234\n0 < . 1:1(0) ack 1 win WIN');
    expect(p.win).toBe(1234);
    const q = events('0 < . 1:1(0) ack 1 win W', { W: '77' })[0] as PacketEvent;
    expect(q.packet.win).toBe(77);
  });

  it('keeps #ifdef STANDARD branches (defined by default) and drops #else ones, keeping line numbers', () => {
    const src = ['#ifdef STANDARD', '0 close(3) = 0', '#else', '0 close(4) = 0', '#endif', '+0 close(5) = 0'].join('\n');
    const evs = events(src);
    expect(evs.map((e) => [(e as SyscallEvent).args[0], e.line])).toEqual([
      [{ kind: 'int', value: 3, text: '3' }, 2],
      [{ kind: 'int', value: 5, text: '5' }, 6],
    ]);
  });

  it('handles #ifndef, nesting, #define and -D symbols', () => {
    const src = ['#ifndef LINUX', '#define SEEN 1', '#endif', '#ifdef SEEN', '#ifdef FREEBSD', 'garbage that is skipped', '#else', '0 close(9) = 0', '#endif', '#endif'].join('\n');
    const evs = events(src);
    expect(evs).toHaveLength(1);
    expect(evs[0]!.line).toBe(8);
    expect(() => events(src, { LINUX: '1' })).toThrow(/no events/);
  });

  it('rejects unbalanced or unknown directives with their line', () => {
    expect(() => preprocess('#ifdef X\n0 close(3) = 0', new Map())).toThrow(/line 1: #ifdef without #endif/);
    expect(() => preprocess('x\n#endif', new Map())).toThrow(/line 2: #endif without #ifdef/);
    expect(() => preprocess('x\ny\n#pragma once', new Map())).toThrow(/line 3: unknown directive #pragma/);
  });

  it('reads init and cleanup commands that have no time', () => {
    const s = parseScript('`../common/defaults.sh`\n0 close(3) = 0\n`echo done`');
    expect(s.initCommand).toEqual({ command: '../common/defaults.sh', line: 1 });
    expect(s.cleanupCommand).toEqual({ command: 'echo done', line: 3 });
    expect(s.events).toHaveLength(1);
  });
});

describe('pkt parser: event times', () => {
  it('parses absolute, relative, ranges, star and blocking end times in microseconds', () => {
    const evs = events(
      [
        '0 close(3) = 0',
        '+0.1 close(3) = 0',
        '1.5 close(3) = 0',
        '2~2.5 > . 1:1(0) ack 1',
        '+.1~+.3 > . 1:1(0) ack 1',
        '* > . 1:1(0) ack 1',
        '+0...0.25 read(4, ..., 10) = 10',
      ].join('\n'),
    );
    expect(evs.map((e) => e.time)).toEqual([
      { kind: 'absolute', usecs: 0 },
      { kind: 'relative', usecs: 100000 },
      { kind: 'absolute', usecs: 1500000 },
      { kind: 'absolute-range', usecs: 2000000, endUsecs: 2500000 },
      { kind: 'relative-range', usecs: 100000, endUsecs: 300000 },
      { kind: 'any' },
      { kind: 'relative', usecs: 0 },
    ]);
    expect((evs[6] as SyscallEvent).endUsecs).toBe(250000);
  });

  it('refuses * and ranges on anything but outbound packets, and backwards ranges', () => {
    expect(syntaxError('0 close(3) = 0\n* close(3) = 0').message).toMatch(/line 2: .*<star> can only be used with outbound packets/);
    expect(syntaxError('0 close(3) = 0\n\n1~2 < . 1:1(0) ack 1 win 1').message).toMatch(/line 3: .*range can only be used with outbound/);
    expect(syntaxError('0 close(3) = 0\n2~1 > . 1:1(0) ack 1').message).toMatch(/line 2: .*time range is backwards/);
  });
});

describe('pkt parser: packets', () => {
  it('parses every flag letter, - for none, seq:end(len), ack, win and urg', () => {
    const p = packet('0 < FSRPUEW. 5:15(10) ack 7 win 1000 urg 3');
    expect(p.flagBits).toBe(FIN | SYN | RST | PSH | ACK | URG | ECE | CWR);
    expect([p.seq, p.len, p.ack, p.win, p.urg]).toEqual([5, 10, 7, 1000, 3]);
    expect(packet('0 < - 1:1(0) win 1').flagBits).toBe(0);
    expect(packet('0 < . 1:1(0) ack 1 win 1').flagBits).toBe(ACK);
    expect(packet('0 > S. 0:0(0) ack 1').flags).toBe('S.');
  });

  it('parses every TCP option kind, in order', () => {
    const p = packet('0 < S 0:0(0) win 1 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7,sack 1:101,eol,nop>');
    expect(p.options).toEqual([
      { kind: 'mss', value: 1460 },
      { kind: 'sackOK' },
      { kind: 'timestamp', val: 100, ecr: 0 },
      { kind: 'nop' },
      { kind: 'wscale', value: 7 },
      { kind: 'sack', blocks: [{ left: 1, right: 101 }] },
      { kind: 'eol' },
      { kind: 'nop' },
    ]);
    expect(packet('0 < . 1:1(0) ack 1 win 1 <nop,nop,sack 1:101 201:301>').options).toEqual([
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'sack', blocks: [{ left: 1, right: 101 }, { left: 201, right: 301 }] },
    ]);
    expect(packet('0 > S. 0:0(0) ack 1 <md5 0123456789abcdef0123456789abcdef,nop,nop>').options![0]).toEqual({
      kind: 'md5',
      digest: '0123456789abcdef0123456789abcdef',
    });
  });

  it('distinguishes no options ([]) from <...> (not checked)', () => {
    expect(packet('0 > S. 0:0(0) ack 1').options).toEqual([]);
    expect(packet('0 > S. 0:0(0) ack 1 <...>').options).toBeNull();
    expect(packet('0 > S. 0:0(0) ack 1').win).toBeNull();
  });

  it('parses explicit ports and IP info', () => {
    const p = packet('0 < [ect0] 40001>8080 S 0:0(0) win 1000');
    expect([p.srcPort, p.dstPort]).toEqual([40001, 8080]);
    expect(p.ipInfo).toEqual({ ecn: 'ect0' });
    expect(packet('0 > (tos 0x10) S 0:0(0)').ipInfo).toEqual({ tos: 16 });
    expect(packet('0 > [ttl 64] S 0:0(0)').ipInfo).toEqual({ ttl: 64 });
  });

  it("enforces packetdrill's semantic checks with the packet's line", () => {
    expect(syntaxError('0 close(3) = 0\n+0 < S 0:0(0) <mss 1000>').message).toMatch(/line 2: semantic error: window must be specified for inbound packets/);
    expect(syntaxError('0 < S 0:0(0) win 1 <...>').message).toMatch(/<\.\.\.> for TCP options can only be used with outbound packets/);
    expect(syntaxError('0 < S 1:5(10) win 1').message).toMatch(/inconsistent TCP sequence numbers and payload size/);
    expect(syntaxError('0 < S 0:0(0) win 1 <sackOK>').message).toMatch(/not padded correctly .* 2 excess bytes/);
    expect(syntaxError('0 < S 0:0(0) win 70000').message).toMatch(/TCP window value 70000 out of range/);
    expect(syntaxError('0 < SX 0:0(0) win 1').message).toMatch(/Invalid TCP flag: 'X'/);
  });

  it('reports parse errors at the line of the offending token', () => {
    const e = syntaxError('// header\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0 win 1');
    expect(e.line).toBe(3);
    expect(e.message).toMatch(/parse error at 'win'/);
    expect(syntaxError('0 close(3) = 0\n\n\n+0 bogus').line).toBe(4);
  });

  it('marks what it cannot run as unsupported rather than invalid', () => {
    const unsupported = (src: string): PktUnsupportedError => {
      try {
        parseScript(src);
      } catch (e) {
        if (e instanceof PktUnsupportedError) return e;
        throw e;
      }
      throw new Error('expected unsupported');
    };
    expect(unsupported('0 close(3) = 0\n+0 < udp (100)').feature).toBe('udp packets');
    expect(unsupported('0 close(3) = 0\n+0 > icmp unreachable port').line).toBe(2);
    expect(unsupported('0 < ipv4 1.1.1.1 > 2.2.2.2: S 0:0(0) win 1').feature).toMatch(/encapsulation/);
    expect(unsupported('0 > S.5 0:0(0) ack 1').feature).toMatch(/AccECN/);
  });
});

describe('pkt parser: system calls, commands, code', () => {
  it('parses arguments of every shape', () => {
    const s = syscall('0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0');
    expect(s.name).toBe('setsockopt');
    expect(s.args[3]).toEqual({
      kind: 'struct',
      items: [
        { kind: 'binary', op: '=', lhs: { kind: 'word', name: 'onoff' }, rhs: { kind: 'int', value: 1, text: '1' } },
        { kind: 'binary', op: '=', lhs: { kind: 'word', name: 'linger' }, rhs: { kind: 'int', value: 0, text: '0' } },
      ],
    });
    const c = syscall('0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.0.2.1")}, 16) = 0');
    const addr = c.args[1]!;
    expect(addr.kind).toBe('struct');
    expect(JSON.stringify(addr)).toContain('"name":"htons"');
    expect(JSON.stringify(addr)).toContain('"value":"192.0.2.1"');
    const f = syscall('0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0');
    expect(f.args[2]).toEqual({ kind: 'binary', op: '|', lhs: { kind: 'word', name: 'O_RDWR' }, rhs: { kind: 'word', name: 'O_NONBLOCK' } });
    const w = syscall('0 writev(4, [{..., 10}, {..., 20}], 2) = 30');
    expect(w.args[1]!.kind).toBe('list');
    expect(syscall('0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0').args[3]).toEqual({ kind: 'list', items: [{ kind: 'int', value: 0, text: '0' }] });
    expect(syscall('0 write(4, "abc"..., 3) = 3').args[1]).toEqual({ kind: 'string', value: 'abc', ellipsis: true });
  });

  it('parses results with errno and note', () => {
    const s = syscall('0 read(4, ..., 1000) = -1 EAGAIN (Resource temporarily unavailable)');
    expect(s.result).toEqual({ kind: 'int', value: -1, text: '-1' });
    expect(s.errno).toBe('EAGAIN');
    expect(s.note).toBe('Resource temporarily unavailable');
    const t = syscall('0 close(4) = 0 (fine)');
    expect([t.errno, t.note]).toEqual([null, 'fine']);
    expect(syscall('0 write(4, ..., ...) = ...').result).toEqual({ kind: 'ellipsis' });
  });

  it('parses back-quoted commands and code blocks as events', () => {
    const evs = events('0 `sysctl -q net.ipv4.tcp_sack=0`\n+0 %{ assert tcpi_state == TCP_LISTEN }%\n+0 %{\nassert tcpi_rto == 1\n}%');
    expect(evs[0]).toMatchObject({ type: 'command', command: 'sysctl -q net.ipv4.tcp_sack=0', line: 1 });
    expect(evs[1]).toMatchObject({ type: 'code', code: 'assert tcpi_state == TCP_LISTEN', line: 2 });
    expect((evs[2] as { code: string }).code).toBe('\nassert tcpi_rto == 1\n');
  });

  it('parses the example from packetdrill README into the right sequence of events', () => {
    const evs = events(
      [
        '0   socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
        '+0  setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0',
        '+0  bind(3, ..., ...) = 0',
        '+0  listen(3, 1) = 0',
        '+0  < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>',
        '+0  > S. 0:0(0) ack 1 <...>',
        '+.1 < . 1:1(0) ack 1 win 257',
        '+0  accept(3, ..., ...) = 4',
      ].join('\n'),
    );
    expect(evs.map((e) => (e.type === 'packet' ? `${(e as PacketEvent).direction} ${e.packet.flags}` : (e as SyscallEvent).name))).toEqual([
      'socket',
      'setsockopt',
      'bind',
      'listen',
      'inbound S',
      'outbound S.',
      'inbound .',
      'accept',
    ]);
  });
});
