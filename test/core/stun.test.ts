/**
 * STUN binding encode/parse (src/core/stun.ts). The two success answers are RFC 5769 §2.2 and
 * §2.3 (their FINGERPRINT checks out over these bytes); the rest are hand-made negatives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { encodeBindingRequest, parseBindingResponse, type StunResult } from '../../src/core/stun.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const TXID = hex('b7e7a701 bc34d686 fa87dfae'); // RFC 5769
const HDR = (type: string, len: string) => `${type} ${len} 2112a442 b7e7a701bc34d686fa87dfae`;

// RFC 5769 §2.2 sample IPv4 response: SOFTWARE, XOR-MAPPED-ADDRESS 192.0.2.1:32853, MESSAGE-INTEGRITY, FINGERPRINT
const RFC5769_V4 = `${HDR('0101', '003c')}
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`;
// RFC 5769 §2.3 sample IPv6 response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853
const RFC5769_V6 = `${HDR('0101', '0048')}
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`;

test('the Binding request is 20 bytes: type 1, length 0, magic cookie, transaction id', () => {
  assert.equal(Buffer.from(encodeBindingRequest(TXID)).toString('hex'), '000100002112a442b7e7a701bc34d686fa87dfae');
  assert.throws(() => encodeBindingRequest(new Uint8Array(11)), RangeError);
});

interface Row { n: number; name: string; bytes: string; want: Partial<{ ok: boolean; reason: string; ip: string; port: number; via: string }> }
const rows: Row[] = [
  { n: 1, name: 'RFC 5769 §2.2 IPv4', bytes: RFC5769_V4, want: { ok: true, ip: '192.0.2.1', port: 32853, via: 'xor-mapped' } },
  { n: 2, name: 'RFC 5769 §2.3 IPv6', bytes: RFC5769_V6, want: { ok: true, ip: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853, via: 'xor-mapped' } },
  { n: 3, name: 'MAPPED-ADDRESS only (RFC 3489 server)', bytes: `${HDR('0101', '000c')} 00010008 0001 1f90 cb007105`,
    want: { ok: true, ip: '203.0.113.5', port: 8080, via: 'mapped' } },
  { n: 4, name: 'XOR-MAPPED wins over MAPPED', bytes: `${HDR('0101', '0018')} 00010008 00011f90cb007105 00200008 0001a147e112a643`,
    want: { ok: true, ip: '192.0.2.1', via: 'xor-mapped' } },
  { n: 5, name: 'unknown attribute with padding is skipped', bytes: `${HDR('0101', '0014')} 80220003 61626300 00200008 0001a147e112a643`,
    want: { ok: true, ip: '192.0.2.1' } },
  { n: 6, name: 'empty', bytes: '', want: { ok: false, reason: 'short' } },
  { n: 7, name: '19 bytes', bytes: '0101000c2112a442b7e7a701bc34d686fa87df', want: { ok: false, reason: 'short' } },
  { n: 8, name: 'top bits set (not STUN)', bytes: `${HDR('c101', '0000')}`, want: { ok: false, reason: 'not-stun' } },
  { n: 9, name: 'wrong magic cookie', bytes: '01010000 2112a443 b7e7a701bc34d686fa87dfae', want: { ok: false, reason: 'bad-cookie' } },
  { n: 10, name: 'other transaction id', bytes: '01010000 2112a442 b7e7a701bc34d686fa87dfaf', want: { ok: false, reason: 'wrong-transaction' } },
  { n: 11, name: 'length field larger than datagram', bytes: `${HDR('0101', '0010')} 00200008 0001a147e112a643`, want: { ok: false, reason: 'bad-length' } },
  { n: 12, name: 'length field smaller than datagram', bytes: `${HDR('0101', '0004')} 00200008 0001a147e112a643`, want: { ok: false, reason: 'bad-length' } },
  { n: 13, name: 'length not a multiple of 4', bytes: `${HDR('0101', '0003')} 000000`, want: { ok: false, reason: 'bad-length' } },
  { n: 14, name: 'attribute overruns message', bytes: `${HDR('0101', '000c')} 00200010 0001a147e112a643`, want: { ok: false, reason: 'bad-attribute' } },
  { n: 15, name: 'XOR-MAPPED family 3', bytes: `${HDR('0101', '000c')} 00200008 0003a147e112a643`, want: { ok: false, reason: 'bad-address' } },
  { n: 16, name: 'XOR-MAPPED IPv4 family with 16-byte address', bytes: `${HDR('0101', '0018')} 00200014 0001a147 ${'00'.repeat(16)}`, want: { ok: false, reason: 'bad-address' } },
  { n: 17, name: 'XOR-MAPPED too short', bytes: `${HDR('0101', '0008')} 00200002 00010000`, want: { ok: false, reason: 'bad-address' } },
  { n: 18, name: 'success without an address', bytes: `${HDR('0101', '0008')} 80220004 61626364`, want: { ok: false, reason: 'no-address' } },
  { n: 19, name: 'Binding request echoed back', bytes: `${HDR('0001', '0000')}`, want: { ok: false, reason: 'not-binding-response' } },
  { n: 20, name: 'error response 400', bytes: `${HDR('0111', '0010')} 0009000b 00000400 42616401 52657100`, want: { ok: false, reason: 'error-response' } },
  { n: 21, name: 'datagram over 1280 bytes', bytes: `${HDR('0101', '0528')} ${'00'.repeat(1320)}`, want: { ok: false, reason: 'too-long' } },
  { n: 22, name: 'zero-length attributes only', bytes: `${HDR('0101', '0008')} 80220000 80230000`, want: { ok: false, reason: 'no-address' } },
];

for (const r of rows) {
  test(`STUN answer /* ${r.n} */ ${r.name}`, () => {
    const got: StunResult = parseBindingResponse(hex(r.bytes), TXID);
    assert.equal(got.ok, r.want.ok, JSON.stringify(got));
    if (got.ok) {
      if (r.want.ip) assert.equal(got.ip.text, r.want.ip);
      if (r.want.port !== undefined) assert.equal(got.port, r.want.port);
      if (r.want.via) assert.equal(got.via, r.want.via);
    } else assert.equal(got.reason, r.want.reason);
  });
}

test('error response text is decoded, bounded and printable', () => {
  const got = parseBindingResponse(hex(rows[19]!.bytes), TXID);
  assert.deepEqual(got, { ok: false, reason: 'error-response', detail: '400 Bad?Req' });
});

test('a view into a larger buffer parses the same (byteOffset honoured)', () => {
  const inner = hex(RFC5769_V4);
  const outer = new Uint8Array(inner.length + 7);
  outer.set(inner, 7);
  const got = parseBindingResponse(outer.subarray(7), TXID);
  assert.ok(got.ok && got.ip.text === '192.0.2.1');
});

test('random and truncated answers never throw', () => {
  const good = hex(RFC5769_V6);
  for (let cut = 0; cut < good.length; cut++) assert.equal(parseBindingResponse(good.subarray(0, cut), TXID).ok, false, `cut ${cut}`);
  for (let i = 0; i < 3000; i++) {
    const b = new Uint8Array(randomBytes(20 + (i % 80)));
    if (i % 2 === 0) { b.set(hex(HDR('0101', '0000')), 0); new DataView(b.buffer).setUint16(2, b.length - 20); }
    const r = parseBindingResponse(b, TXID);
    assert.equal(typeof r.ok, 'boolean');
  }
});
