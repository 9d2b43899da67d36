import { describe, expect, it } from 'vitest';
import { parseTarget } from '../../src/cli/commands/get.ts';

describe('tuntcp get: which URLs it takes', () => {
  it('takes http:// with an IPv4 host, port 80 by default, and keeps the query', () => {
    expect(parseTarget('http://10.0.0.1:8000/big.bin')).toEqual({ host: '10.0.0.1', port: 8000, path: '/big.bin' });
    expect(parseTarget('http://10.0.0.1/bytes/10?sha256')).toEqual({ host: '10.0.0.1', port: 80, path: '/bytes/10?sha256' });
    expect(parseTarget('http://10.0.0.1')).toEqual({ host: '10.0.0.1', port: 80, path: '/' });
  });

  it('refuses what the stack cannot reach, saying why', () => {
    expect(() => parseTarget('https://10.0.0.1/')).toThrow(/only http:\/\//);
    expect(() => parseTarget('http://localhost/')).toThrow(/IPv4 address/);
    expect(() => parseTarget('http://127.0.0.1/')).toThrow(/loopback/);
    expect(() => parseTarget('http://u:p@10.0.0.1/')).toThrow(/credentials/);
    expect(() => parseTarget('10.0.0.1')).toThrow(/not a URL/);
  });
});
