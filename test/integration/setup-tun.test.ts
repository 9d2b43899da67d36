import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import {
  NamespaceSetupError,
  SETUP_SCRIPT_PATH,
  namespaceExists,
  setupNamespace,
  teardownNamespace,
} from '../../src/tun/namespace.ts';
import { canRunIntegration } from '../helpers/netns.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the script, optionally without the two capabilities it needs. We stay
 * uid 0 and drop CAP_NET_ADMIN and CAP_SYS_ADMIN from the bounding set rather
 * than switching to an unprivileged user, so the test works wherever the
 * checkout lives (a user like nobody may not be able to read it).
 */
function script(args: string[], withoutCaps = false): Run {
  const argv = withoutCaps
    ? ['setpriv', '--bounding-set', '-net_admin,-sys_admin', 'bash', SETUP_SCRIPT_PATH, ...args]
    : ['bash', SETUP_SCRIPT_PATH, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000, killSignal: 'SIGKILL' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ipJson<T>(args: string[]): T {
  const r = spawnSync('ip', ['-j', ...args], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

interface LinkInfo {
  ifname: string;
  mtu: number;
  txqlen: number;
  flags: string[];
  linkinfo?: { info_kind?: string; info_data?: { type?: string; persist?: boolean; pi?: boolean } };
}
interface AddrInfo {
  addr_info: { family: string; local: string; prefixlen: number }[];
}

function nsSysctl(netns: string, key: string): string {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'cat', `/proc/sys/${key.replaceAll('.', '/')}`], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  return r.stdout.trim();
}

const stderrLines = (text: string): string[] => text.split('\n').filter((l) => l.trim().length > 0);

let counter = 0;
const created: string[] = [];
function freshName(): string {
  const name = `tt-setup-${process.pid}-${++counter}`;
  created.push(name);
  return name;
}

describe.skipIf(!canRunIntegration())('scripts/setup-tun.sh', () => {
  afterAll(() => {
    for (const netns of created) {
      try {
        teardownNamespace(netns);
      } catch {
        spawnSync('ip', ['netns', 'delete', netns], { timeout: 5_000 });
      }
    }
    for (const netns of created) expect(namespaceExists(netns)).toBe(false);
  });

  it('up creates the namespace and a persistent TUN with the address, MTU and queue length asked for', () => {
    const netns = freshName();
    const r = script(['up', '--netns', netns, '--dev', 'tunx', '--addr', '10.0.0.1/24', '--mtu', '1400', '--txqueuelen', '1234']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(namespaceExists(netns)).toBe(true);

    const [link] = ipJson<LinkInfo[]>(['-d', '-n', netns, 'link', 'show', 'dev', 'tunx']);
    expect(link?.mtu).toBe(1400);
    expect(link?.txqlen).toBe(1234);
    expect(link?.flags).toContain('UP');
    expect(link?.linkinfo?.info_kind).toBe('tun');
    expect(link?.linkinfo?.info_data?.type).toBe('tun');
    expect(link?.linkinfo?.info_data?.persist).toBe(true);

    const [addr] = ipJson<AddrInfo[]>(['-n', netns, 'addr', 'show', 'dev', 'tunx']);
    expect(addr?.addr_info).toEqual([expect.objectContaining({ family: 'inet', local: '10.0.0.1', prefixlen: 24 })]);

    const [lo] = ipJson<LinkInfo[]>(['-n', netns, 'link', 'show', 'dev', 'lo']);
    expect(lo?.flags).toContain('UP');
    // No IPv6 on the device: no MLD reports or router solicitations to surprise the stack.
    expect(nsSysctl(netns, 'net.ipv6.conf.tunx.disable_ipv6')).toBe('1');
    expect(nsSysctl(netns, 'net.ipv6.conf.default.disable_ipv6')).toBe('1');

    // Nothing leaks into the root namespace.
    const rootLinks = ipJson<LinkInfo[]>(['link', 'show']);
    expect(rootLinks.map((l) => l.ifname)).not.toContain('tunx');
  });

  it('up twice succeeds and reconfigures (one address, new MTU)', () => {
    const netns = freshName();
    expect(script(['up', '--netns', netns]).code).toBe(0);
    const again = script(['up', '--netns', netns, '--addr', '10.0.0.1/16', '--mtu', '9000', '--txqueuelen', '2000']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    const [link] = ipJson<LinkInfo[]>(['-n', netns, 'link', 'show', 'dev', 'tun0']);
    expect(link?.mtu).toBe(9000);
    expect(link?.txqlen).toBe(2000);
    const [addr] = ipJson<AddrInfo[]>(['-n', netns, 'addr', 'show', 'dev', 'tun0']);
    expect(addr?.addr_info).toEqual([expect.objectContaining({ local: '10.0.0.1', prefixlen: 16 })]);

    const status = script(['status', '--netns', netns]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('tun0');
  });

  it('down removes the namespace and its device, and down again is fine', () => {
    const netns = freshName();
    expect(script(['up', '--netns', netns]).code).toBe(0);
    const down = script(['down', '--netns', netns]);
    expect(down.code).toBe(0);
    expect(namespaceExists(netns)).toBe(false);
    const netnsList = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    expect(netnsList).not.toContain(netns);

    const again = script(['down', '--netns', netns]);
    expect(again.code).toBe(0);
    expect(again.stderr).toBe('');

    const status = script(['status', '--netns', netns]);
    expect(status.code).toBe(1);
  });

  it('without CAP_NET_ADMIN/CAP_SYS_ADMIN it prints one line naming what is missing and exits non-zero', () => {
    const netns = freshName();
    const r = script(['up', '--netns', netns], true);
    expect(r.code).not.toBe(0);
    expect(stderrLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^setup-tun\.sh: needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN \(try: sudo /);
    expect(namespaceExists(netns)).toBe(false);
  });

  it.each([
    [['up', '--mtu', 'abc'], /invalid MTU 'abc'/],
    [['up', '--addr', '10.0.0.300/24'], /invalid address/],
    [['up', '--dev', 'a-name-longer-than-15'], /invalid device name/],
    [['up', '--netns', 'bad/name'], /invalid namespace name/],
    [['up', '--frobnicate'], /unknown option '--frobnicate'/],
    [['up', '--netns'], /option --netns needs a value/],
    [['sideways'], /unknown command 'sideways'/],
  ])('bad arguments %j: one line, non-zero exit, nothing created', (args, message) => {
    const r = script(args);
    expect(r.code).toBe(2);
    expect(stderrLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it('--help works without privileges', () => {
    const r = script(['--help'], true);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/usage: setup-tun\.sh up/);
  });

  describe('namespace.ts wrappers', () => {
    it('setupNamespace / namespaceExists / teardownNamespace drive the script', () => {
      const netns = freshName();
      expect(namespaceExists(netns)).toBe(false);
      const used = setupNamespace({ netns, dev: 'tun7', kernelAddr: '10.0.0.1/24', mtu: 1280, txqueuelen: 700 });
      expect(used.netns).toBe(netns);
      expect(namespaceExists(netns)).toBe(true);
      const [link] = ipJson<LinkInfo[]>(['-n', netns, 'link', 'show', 'dev', 'tun7']);
      expect(link?.mtu).toBe(1280);
      teardownNamespace(netns);
      expect(namespaceExists(netns)).toBe(false);
      expect(() => teardownNamespace(netns)).not.toThrow();
    });

    it('a failure becomes an Error whose message is the script line', () => {
      const netns = freshName();
      let caught: unknown;
      try {
        setupNamespace({ netns, mtu: 12 });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(NamespaceSetupError);
      const err = caught as NamespaceSetupError;
      expect(err.message).toBe("setup-tun.sh: invalid MTU '12' (68..65535)");
      expect(err.exitCode).toBe(2);
      expect(err.stack).not.toMatch(/\n\s+at /);
      expect(namespaceExists(netns)).toBe(false);
    });
  });
});
