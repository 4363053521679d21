import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { buildFilter, doorFilter, MATCH_NOTHING } from '../../../src/core/packet/bpf.js';
import type { FilterInput } from '../../../src/core/packet/bpf.js';
import type { Door, Hit } from '../../../src/core/config/types.js';
import { fixture } from '../../helpers/paths.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { encodeRequest } from '../../../src/core/spa/wire.js';
import { ed25519Signer, hmacSigner } from '../../../src/core/spa/sign.js';
import { parseIp } from '../../../src/core/ip.js';

function door(name: string, seq: string, extra: Partial<Door> = {}): Door {
  const sequence: Hit[] = seq === '' ? [] : seq.split(',').map((s) => {
    const [port, proto] = s.split(':');
    return { port: Number(port), proto: proto === 'udp' ? 'udp' : 'tcp' };
  });
  return { name, line: 1, sequence, seqTimeout: 25, tcpFlags: {}, cmdTimeout: 10, spa: false, ...extra };
}

const L4 = ['127.0.0.1'];
const L46 = ['192.0.2.1', 'fe80::1', '10.0.0.1', '2001:db8::1'];

// [description, door, local addresses, family, expected per-door expression]
const DOOR_TABLE: [string, Door, string[], 4 | 6, string | undefined][] = [
  ['V01 knockd example', door('openSSH', '7000,8000:udp,9000', { tcpFlags: { syn: true, ack: false } }), L4, 4,
    '((dst host 127.0.0.1) and (((tcp dst port 7000 or 9000) and tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-ack == 0) or (udp dst port 8000)))'],
  ['tcp only, no flags', door('a', '7000,8000,9000'), L4, 4,
    '((dst host 127.0.0.1) and (((tcp dst port 7000 or 8000 or 9000))))'],
  ['udp only', door('u', '8000:udp,8001:udp'), L4, 4, '((dst host 127.0.0.1) and ((udp dst port 8000 or 8001)))'],
  ['duplicates kept, sequence order', door('d', '9000,7000,9000'), L4, 4, '((dst host 127.0.0.1) and (((tcp dst port 9000 or 7000 or 9000))))'],
  ['all six flags in knockd order, psh -> tcp-push', door('f', '1',
    { tcpFlags: { urg: false, ack: true, psh: true, rst: false, syn: true, fin: false } }), L4, 4,
    '((dst host 127.0.0.1) and (((tcp dst port 1) and tcp[tcpflags] & tcp-fin == 0 and tcp[tcpflags] & tcp-syn != 0 and tcp[tcpflags] & tcp-rst == 0 and tcp[tcpflags] & tcp-push != 0 and tcp[tcpflags] & tcp-ack != 0 and tcp[tcpflags] & tcp-urg == 0)))'],
  ['several local v4 addresses, only v4 used', door('m', '7000'), L46, 4,
    '((dst host 192.0.2.1 or dst host 10.0.0.1) and (((tcp dst port 7000))))'],
  ['ipv6 part uses ip6[13+40] for flags', door('v6', '7000,8000:udp', { tcpFlags: { syn: true } }), L46, 6,
    '((dst host fe80::1 or dst host 2001:db8::1) and (((tcp dst port 7000) and ip6[13+40] & tcp-syn != 0) or (udp dst port 8000)))'],
  ['target replaces local addresses (v4)', door('t', '7000', { target: '198.51.100.9' }), L46, 4,
    '((dst host 198.51.100.9) and (((tcp dst port 7000))))'],
  ['v4 target contributes nothing to v6', door('t', '7000', { target: '198.51.100.9' }), L46, 6, undefined],
  ['v6 target', door('t6', '7000', { target: '2001:db8::99' }), L4, 6, '((dst host 2001:db8::99) and (((tcp dst port 7000))))'],
  ['v6 target even when no local v6 address', door('t6', '7000', { target: '2001:db8::99' }), L4, 4, undefined],
  ['no sequence (SPA-only door)', door('spa', '', { spa: true }), L4, 4, undefined],
  ['no address of the family', door('n', '7000'), L4, 6, undefined],
  ['no addresses at all', door('n', '7000'), [], 4, undefined],
];

for (const [desc, d, addrs, fam, want] of DOOR_TABLE) {
  test(`doorFilter: ${desc}`, () => {
    assert.equal(doorFilter(d, addrs, fam), want);
  });
}

const BUILD_TABLE: [string, FilterInput, string][] = [
  ['door order: door1-v4, door1-v6, door2-v4, door2-v6',
    { doors: [door('a', '7000'), door('b', '8000:udp')], localAddrs: ['10.0.0.1', '::1'], ipv6: true },
    '((dst host 10.0.0.1) and (((tcp dst port 7000)))) or ((dst host ::1) and (((tcp dst port 7000)))) or ((dst host 10.0.0.1) and ((udp dst port 8000))) or ((dst host ::1) and ((udp dst port 8000)))'],
  ['ipv6=false drops the v6 parts (-4)',
    { doors: [door('a', '7000')], localAddrs: ['10.0.0.1', '::1'], ipv6: false },
    '((dst host 10.0.0.1) and (((tcp dst port 7000))))'],
  ['spa port to local addresses, per family',
    { doors: [door('s', '', { spa: true })], localAddrs: ['10.0.0.1', '::1'], ipv6: true, spaPort: 62201 },
    '((dst host 10.0.0.1) and (udp dst port 62201) and udp[4:2] >= 114 and udp[4:2] <= 194 and udp[8:2] = 0x4b4e) or ((dst host ::1) and (udp dst port 62201) and ip6[44:2] >= 114 and ip6[44:2] <= 194 and ip6[48:2] = 0x4b4e)'],
  ['doors and spa port',
    { doors: [door('a', '7000,8000:udp', { tcpFlags: { syn: true } })], localAddrs: ['127.0.0.1'], ipv6: true, spaPort: 62201 },
    '((dst host 127.0.0.1) and (((tcp dst port 7000) and tcp[tcpflags] & tcp-syn != 0) or (udp dst port 8000))) or ((dst host 127.0.0.1) and (udp dst port 62201) and udp[4:2] >= 114 and udp[4:2] <= 194 and udp[8:2] = 0x4b4e)'],
  ['duplicate and non-canonical local addresses are normalised once',
    { doors: [door('a', '7000')], localAddrs: ['2001:DB8:0:0::1', '2001:db8::1', 'bogus'], ipv6: true },
    '((dst host 2001:db8::1) and (((tcp dst port 7000))))'],
  ['something to listen for but no address: match nothing, not everything',
    { doors: [door('a', '7000')], localAddrs: [], ipv6: true }, MATCH_NOTHING],
  ['nothing to listen for: no filter', { doors: [door('s', '', { spa: true })], localAddrs: ['10.0.0.1'], ipv6: true }, ''],
  ['no doors, no spa', { doors: [], localAddrs: ['10.0.0.1'], ipv6: true }, ''],
];

for (const [desc, input, want] of BUILD_TABLE) {
  test(`buildFilter: ${desc}`, () => {
    assert.equal(buildFilter(input), want);
  });
}

// ---- real libpcap --------------------------------------------------------------------------
const tcpdump = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' });
const haveTcpdump = tcpdump.status === 0;
const canOpenLo = haveTcpdump && spawnSync('tcpdump', ['-d', '-i', 'lo', 'tcp'], { encoding: 'utf8' }).status === 0;

function compile(iface: string, expr: string): { ok: boolean; err: string } {
  const r = spawnSync('tcpdump', ['-d', '-i', iface, expr], { encoding: 'utf8' });
  return { ok: r.status === 0 && r.stdout.includes('ret'), err: r.stderr };
}

const ALL_EXPRS = [
  ...DOOR_TABLE.map(([, , , , e]) => e).filter((e): e is string => e !== undefined),
  ...BUILD_TABLE.map(([, , e]) => e).filter((e) => e !== ''),
];

test('every generated filter compiles with libpcap (tcpdump -d) on Ethernet (lo) and cooked (any)', (t) => {
  if (!canOpenLo) { t.skip('tcpdump missing or cannot open lo (needs root/CAP_NET_RAW)'); return; }
  for (const iface of ['lo', 'any']) {
    for (const e of ALL_EXPRS) {
      const r = compile(iface, e);
      assert.ok(r.ok, `${iface}: ${e}\n${r.err}`);
    }
  }
  // the checker itself rejects what libpcap rejects
  assert.equal(compile('lo', '((dst host 127.0.0.1) and (tcp dst port))').ok, false);
  assert.equal(compile('lo', 'ip6 and tcp[13] & 2 != 0').ok, false); // why IPv6 uses ip6[13+40]
});

function countMatches(file: string, expr: string): number {
  const r = spawnSync('tcpdump', ['-n', '-r', fixture('frames', file), expr], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
}

test('filters select the right packets of the captured pcaps (tcpdump -r)', (t) => {
  if (!haveTcpdump) { t.skip('tcpdump missing'); return; }
  // captures hold: udp 127.0.0.1:8000, udp ::1:62201, tcp SYN 127.0.0.1:7000, tcp SYN ::1:9000
  // (the 62201 datagram carries 4 bytes of junk, so the SPA shape check drops it in the kernel)
  const d = door('a', '7000,8000:udp,9000', { tcpFlags: { syn: true, ack: false } });
  const cases: [FilterInput, number][] = [
    [{ doors: [d], localAddrs: ['127.0.0.1', '::1'], ipv6: true, spaPort: 62201 }, 3],
    [{ doors: [d], localAddrs: ['127.0.0.1', '::1'], ipv6: true }, 3],
    [{ doors: [d], localAddrs: ['127.0.0.1', '::1'], ipv6: false, spaPort: 62201 }, 2],
    [{ doors: [door('b', '7000', { tcpFlags: { ack: true } })], localAddrs: ['127.0.0.1', '::1'], ipv6: true }, 0],
    [{ doors: [door('c', '9000', { tcpFlags: { syn: true } })], localAddrs: ['127.0.0.1', '::1'], ipv6: true }, 1],
    [{ doors: [d], localAddrs: ['10.9.9.9'], ipv6: true }, 0],
    [{ doors: [d], localAddrs: [], ipv6: true }, 0],
  ];
  for (const file of ['lo-ethernet.pcap', 'any-sll.pcap', 'any-sll2.pcap']) {
    for (const [input, n] of cases) {
      const f = buildFilter(input);
      assert.equal(countMatches(file, f), n, `${file}: ${f}`);
    }
  }
});

/** A classic pcap (Ethernet) holding the given raw frames. */
function writePcap(frames: Uint8Array[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'bpf-spa-'));
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0); head.writeUInt16LE(2, 4); head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16); head.writeUInt32LE(1, 20);
  const parts: Buffer[] = [head];
  for (const f of frames) {
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(f.length, 8); rh.writeUInt32LE(f.length, 12);
    parts.push(rh, Buffer.from(f));
  }
  const file = join(dir, 'spa.pcap');
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

function udpFrame(fam: 4 | 6, payload: Uint8Array, dport = 62201): Uint8Array {
  const udp = Buffer.alloc(8 + payload.length);
  udp.writeUInt16BE(40000, 0); udp.writeUInt16BE(dport, 2); udp.writeUInt16BE(udp.length, 4);
  Buffer.from(payload).copy(udp, 8);
  let ip: Buffer;
  if (fam === 4) {
    ip = Buffer.alloc(20);
    ip[0] = 0x45; ip.writeUInt16BE(20 + udp.length, 2); ip[8] = 64; ip[9] = 17;
    Buffer.from([10, 0, 0, 2]).copy(ip, 12); Buffer.from([10, 0, 0, 1]).copy(ip, 16);
  } else {
    ip = Buffer.alloc(40);
    ip[0] = 0x60; ip.writeUInt16BE(udp.length, 4); ip[6] = 17; ip[7] = 64;
    ip[8] = 0xfd; ip[23] = 2;   // src fd00::2 (bytes 8..23)
    ip[24] = 0xfd; ip[39] = 1;  // dst fd00::1 (bytes 24..39)
  }
  const eth = Buffer.from(`ffffffffffff020000000001${fam === 4 ? '0800' : '86dd'}`, 'hex');
  return new Uint8Array(Buffer.concat([eth, ip, udp]));
}

test('the SPA shape filter passes real SPA datagrams and drops junk in the kernel (tcpdump -r)', (t) => {
  if (!haveTcpdump) { t.skip('tcpdump missing'); return; }
  const signer = ed25519Signer(new Uint8Array(32).fill(7)); // TEST-ONLY seed
  const fields = (door: string) => ({
    timestampMs: 1_800_000_000_000, nonce: new Uint8Array(16).fill(1), ttl: 0, door,
    allowIp: parseIp('10.0.0.2')!, serverIp: parseIp('10.0.0.1')!,
  });
  const shortest = encodeRequest(fields(''), hmacSigner(new Uint8Array(32).fill(3)));
  const longest = encodeRequest(fields('d'.repeat(32)), signer);
  const junk204 = new Uint8Array(204).fill(0x41);
  const wrongMagic = Uint8Array.from(longest); wrongMagic[0] = 0x4c;
  const tooLong = new Uint8Array(longest.length + 1); tooLong.set(longest);
  const tooShort = shortest.subarray(0, shortest.length - 1);
  for (const fam of [4, 6] as const) {
    const dst = fam === 4 ? '10.0.0.1' : 'fd00::1';
    const f = buildFilter({ doors: [], localAddrs: [dst], ipv6: true, spaPort: 62201 });
    const count = (p: Uint8Array) => {
      const r = spawnSync('tcpdump', ['-n', '-r', writePcap([udpFrame(fam, p)]), f], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
    };
    assert.equal(count(shortest), 1, `IPv${fam}: shortest valid (hmac, no door) must pass`);
    assert.equal(count(longest), 1, `IPv${fam}: longest valid (ed25519, 32-char door) must pass`);
    for (const [name, p] of [['junk204', junk204], ['wrongMagic', wrongMagic], ['tooLong', tooLong], ['tooShort', tooShort]] as const) {
      assert.equal(count(p), 0, `IPv${fam}: ${name} must be dropped by the filter`);
    }
  }
});
