import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  elementKeys, formatElementComment, nftCloseLines, nftListLine, nftOpenLines, nftTarget, nftTargets, parseElementComment,
  setTypeText, ttlText, MAX_COMMENT, type NftTarget,
} from '../../../src/core/firewall/nft.js';
import { parseNftListJson } from '../../../src/core/firewall/nft-list.js';
import { parseConfig } from '../../../src/core/config/parse.js';
import { parseIp, type Ip } from '../../../src/core/ip.js';

const ip = (s: string): Ip => parseIp(s) as Ip;
const cfg = parseConfig('[ssh]\nspa = yes\nports = 22,53:udp,22\nnft_set = inet knockd ssh4\nnft_set_6 = inet knockd ssh6\nnft_element = addr-port\n[web]\nsequence = 1\nports = 80\nnft_set = ip t web4\n',
  'k.conf', { resolvePath: (p) => p, readOts: () => '' });
const [ssh, web] = cfg.doors;
const SSH4 = nftTarget(ssh!, 4) as NftTarget;
const SSH6 = nftTarget(ssh!, 6) as NftTarget;
const WEB4 = nftTarget(web!, 4) as NftTarget;

test('targets: per door and family; none where the door has no set for the family', () => {
  assert.equal(nftTarget(web!, 6), undefined);
  assert.deepEqual(nftTargets(cfg).map((t) => [t.set.set, t.family, t.element]), [['ssh4', 4, 'addr-port'], ['ssh6', 6, 'addr-port'], ['web4', 4, 'addr']]);
  assert.equal(setTypeText('addr', 6), 'ipv6_addr');
  assert.equal(setTypeText('addr-port', 4), 'ipv4_addr . inet_proto . inet_service');
});

test('element keys: canonical address, one per distinct door port, family checked', () => {
  assert.deepEqual(elementKeys(WEB4, ip('192.0.2.1')), { ok: true, keys: ['192.0.2.1'] });
  assert.deepEqual(elementKeys(SSH4, ip('192.0.2.1')), { ok: true, keys: ['192.0.2.1 . tcp . 22', '192.0.2.1 . udp . 53'] });
  assert.deepEqual(elementKeys(SSH6, ip('2001:DB8::1')), { ok: true, keys: ['2001:db8::1 . tcp . 22', '2001:db8::1 . udp . 53'] });
  assert.equal(elementKeys(SSH4, ip('2001:db8::1')).ok, false);
  assert.equal(elementKeys(WEB4, { family: 4, bytes: new Uint8Array(4), text: 'example.com' }).ok, false, 'never a host name: nft would resolve it');
  assert.equal(elementKeys(WEB4, { family: 4, bytes: new Uint8Array(4), text: '1.2.3.4 } ; flush ruleset' }).ok, false);
});

test('open/refresh, close and list lines (one transaction each)', () => {
  assert.deepEqual(nftOpenLines(SSH4, ip('192.0.2.1'), 30_000, { lease: 'lx-1', key: 'alice' }), { ok: true, lines: [
    'add element inet knockd ssh4 { 192.0.2.1 . tcp . 22 timeout 30s comment "knockd lease=lx-1 key=alice", 192.0.2.1 . udp . 53 timeout 30s comment "knockd lease=lx-1 key=alice" }',
    'delete element inet knockd ssh4 { 192.0.2.1 . tcp . 22, 192.0.2.1 . udp . 53 }',
    'add element inet knockd ssh4 { 192.0.2.1 . tcp . 22 timeout 30s comment "knockd lease=lx-1 key=alice", 192.0.2.1 . udp . 53 timeout 30s comment "knockd lease=lx-1 key=alice" }',
  ] });
  assert.deepEqual(nftCloseLines(WEB4, ip('192.0.2.9')), { ok: true, lines: ['add element ip t web4 { 192.0.2.9 timeout 1s }', 'delete element ip t web4 { 192.0.2.9 }'] });
  assert.equal(nftListLine(WEB4.set), 'list set ip t web4');
  const bad = nftOpenLines(WEB4, ip('192.0.2.1'), 1000, { key: 'a"b' });
  assert.equal(bad.ok, false);
});

test('ttl: integer ms in [1 s, max]; never 0 (nft: no timeout = permanent)', () => {
  const rows: Array<[number, string]> = [[30_000, '30s'], [1500, '1500ms'], [0, '1s'], [-5, '1s'], [NaN, '1s'], [999.6, '1s'], [1000.4, '1s'], [Infinity, '1s'], [1e15, '2147483s']];
  for (const [ms, want] of rows) assert.equal(ttlText(ms), want, String(ms));
});

test('element comments: written and read back; anything else is not ours', () => {
  const rows: Array<[Parameters<typeof formatElementComment>[0], string | undefined]> = [
    [{}, 'knockd'], [{ lease: 'm3x-1f' }, 'knockd lease=m3x-1f'], [{ key: 'alice.ops' }, 'knockd key=alice.ops'],
    [{ lease: 'a', key: 'b' }, 'knockd lease=a key=b'], [{ key: 'a b' }, undefined], [{ lease: 'x'.repeat(41) }, undefined],
    [{ key: '-x' }, undefined], [{ key: 'x'.repeat(64), lease: 'y'.repeat(40) }, `knockd lease=${'y'.repeat(40)} key=${'x'.repeat(64)}`],
  ];
  for (const [o, want] of rows) {
    const c = formatElementComment(o);
    assert.equal(c, want, JSON.stringify(o));
    if (c !== undefined) { assert.ok(c.length <= MAX_COMMENT); assert.deepEqual(parseElementComment(c), o); }
  }
  for (const c of ['', 'knockd2', 'knockd lease=a lease=b', 'knockd foo=1', 'knockd key=', 'other', 42, null, `knockd key=${'x'.repeat(200)}`]) {
    assert.equal(parseElementComment(c), undefined, JSON.stringify(c));
  }
});

const NFT106 = '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"set": {"family": "inet", "name": "ssh4", "table": "knockd", "type": ["ipv4_addr", "inet_proto", "inet_service"], "handle": 3, "flags": ["timeout"], "elem": [{"concat": ["10.0.0.1", "tcp", 22]}, {"elem": {"val": {"concat": ["10.0.0.2", "udp", 53]}, "timeout": 3600, "expires": 3599, "comment": "knockd lease=l1 key=bob"}}]}}]}';

test('list JSON as nft 1.0.6 prints it (captured here): elements, remaining time, owner', () => {
  const r = parseNftListJson(NFT106, SSH4.set);
  assert.deepEqual(r, { ok: true, skipped: 0, set: { family: 'inet', table: 'knockd', name: 'ssh4', type: 'ipv4_addr . inet_proto . inet_service', flags: ['timeout'] }, elements: [
    { key: '10.0.0.1 . tcp . 22', ip: '10.0.0.1', family: 4, proto: 'tcp', port: 22 },
    { key: '10.0.0.2 . udp . 53', ip: '10.0.0.2', family: 4, proto: 'udp', port: 53, timeoutMs: 3_600_000, expiresMs: 3_599_000, comment: 'knockd lease=l1 key=bob', owner: { lease: 'l1', key: 'bob' } },
  ] });
  const v6 = parseNftListJson('{"nftables": [{"set": {"family": "inet", "name": "a6", "table": "k", "type": "ipv6_addr", "flags": ["timeout"], "elem": [{"elem": {"val": "::ffff:1.2.3.4", "timeout": 10, "expires": 9}}, "FD00::1"]}}]}');
  assert.ok(v6.ok);
  assert.deepEqual(v6.elements.map((e) => [e.key, e.family, e.expiresMs]), [['::ffff:1.2.3.4', 6, 9000], ['fd00::1', 6, undefined]]);
  assert.deepEqual(parseNftListJson('{"nftables": [{"set": {"family": "inet", "name": "e", "table": "k", "type": "ipv4_addr"}}]}'), { ok: true, skipped: 0, set: { family: 'inet', table: 'k', name: 'e', type: 'ipv4_addr', flags: [] }, elements: [] });
});

test('list JSON: odd input never throws; unknown element shapes are skipped and counted', () => {
  assert.deepEqual(parseNftListJson(NFT106, WEB4.set), { ok: false, error: 'nft listed set inet knockd ssh4, expected ip t web4' });
  for (const t of ['', 'Error: x', '{', 'null', '[]', '{"nftables": 1}', '{"nftables": []}', '{"nftables": [{"set": 1}, {"set": {}}]}', '{"nftables": [{"set": null}]}']) {
    const r = parseNftListJson(t);
    assert.equal(r.ok, false, t);
  }
  const odd = ['"host.example"', '{"prefix": {"addr": "10.0.0.0", "len": 8}}', '{"range": ["10.0.0.1", "10.0.0.9"]}', '{"concat": ["10.0.0.1", "icmp", 0]}',
    '{"concat": ["10.0.0.1", "tcp"]}', '{"concat": ["10.0.0.1", "tcp", 70000]}', '{"elem": {"val": 5}}', '{"elem": null}', 'null', '7', '"10.0.0.300"',
    '{"elem": {"val": "10.0.0.5", "timeout": -1, "expires": "x", "comment": 3}}', '{"concat": ["10.0.0.6", 6, "22"]}'];
  const r = parseNftListJson(`{"nftables": [{"set": {"family": "inet", "name": "s", "table": "k", "type": 7, "flags": [1, "timeout"], "elem": [${odd.join(', ')}]}}]}`);
  assert.ok(r.ok);
  assert.deepEqual(r.elements, [{ key: '10.0.0.5', ip: '10.0.0.5', family: 4 }, { key: '10.0.0.6 . tcp . 22', ip: '10.0.0.6', family: 4, proto: 'tcp', port: 22 }]);
  assert.equal(r.skipped, odd.length - 2);
  assert.deepEqual(r.set.flags, ['timeout']);
  const capped = parseNftListJson(`{"nftables": [{"set": {"family": "inet", "name": "s", "table": "k", "elem": ["1.1.1.1", "1.1.1.2", "1.1.1.3"]}}]}`, undefined, 2);
  assert.ok(capped.ok);
  assert.equal(capped.elements.length, 2);
  assert.equal(capped.skipped, 1);
  // random bytes and random JSON-ish text: never throws
  let seed = 7;
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  const alphabet = '{}[]":,0123456789.abcdefelemvalconcattimeoutexpirescommentnftablesset ';
  for (let i = 0; i < 2000; i++) {
    const n = rnd() % 200;
    let s = '{"nftables": [{"set": {"elem": [';
    for (let j = 0; j < n; j++) s += alphabet[rnd() % alphabet.length];
    assert.doesNotThrow(() => parseNftListJson(s));
    assert.doesNotThrow(() => parseNftListJson(s + ']}}]}'));
  }
});
