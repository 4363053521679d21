import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, linkTypeFromCap, MAX_PAYLOAD } from '../../../src/core/packet/decode.js';
import type { LinkType } from '../../../src/core/packet/decode.js';
import { formatV4, formatV6 } from '../../../src/core/ip.js';
import type { Packet } from '../../../src/core/types.js';
import { fixture } from '../../helpers/paths.js';
import { VALID, INVALID, bytes, hex, ETH, V4_UDP, readPcap } from './frames.js';
import type { Expect } from './frames.js';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function view(p: Packet): Expect {
  return { family: p.family, src: p.src, dst: p.dst, proto: p.proto, srcPort: p.srcPort, dstPort: p.dstPort, tcpFlags: p.tcpFlags, payloadHex: toHex(p.payload) };
}

/** Invariants every decoded packet must satisfy, whatever the input. */
function checkInvariants(p: Packet): void {
  assert.ok(p.family === 4 || p.family === 6);
  assert.equal(p.srcBytes.length, p.family === 4 ? 4 : 16);
  assert.equal(p.dstBytes.length, p.family === 4 ? 4 : 16);
  assert.equal(p.src, p.family === 4 ? formatV4(p.srcBytes) : formatV6(p.srcBytes));
  assert.equal(p.dst, p.family === 4 ? formatV4(p.dstBytes) : formatV6(p.dstBytes));
  assert.ok(p.proto === 'tcp' || p.proto === 'udp');
  assert.ok(Number.isInteger(p.srcPort) && p.srcPort >= 0 && p.srcPort <= 65535);
  assert.ok(Number.isInteger(p.dstPort) && p.dstPort >= 0 && p.dstPort <= 65535);
  assert.ok(p.tcpFlags >= 0 && p.tcpFlags <= 255);
  if (p.proto === 'tcp') assert.equal(p.payload.length, 0);
  else assert.equal(p.tcpFlags, 0);
  assert.ok(p.payload.length <= MAX_PAYLOAD);
}

test('linkTypeFromCap maps the strings cap returns', () => {
  const table: [string, LinkType | undefined][] = [
    ['ETHERNET', 'ETHERNET'], ['LINKTYPE_LINUX_SLL', 'LINUX_SLL'], ['NULL', 'NULL'], ['RAW', 'RAW'],
    ['Unknown linktype 276', 'LINUX_SLL2'], ['Unknown linktype 108', 'NULL'], ['Unknown linktype 228', 'RAW'],
    ['Unknown linktype 229', 'RAW'], ['Unknown linktype 9', undefined], ['IEEE802_11_RADIO', undefined],
    ['Unknown linktype 276 ', undefined], ['', undefined], ['ethernet', undefined],
  ];
  for (const [s, want] of table) assert.equal(linkTypeFromCap(s), want, s);
});

for (const v of [...VALID, ...INVALID]) {
  test(`decode vector: ${v.name}`, () => {
    const p = decodeFrame(v.link, bytes(v.hex));
    if (v.expect === undefined) { assert.equal(p, undefined); return; }
    assert.ok(p, 'decoded');
    checkInvariants(p);
    assert.deepEqual(view(p), v.expect);
  });
}

test('captured frames (tcpdump in a netns: lo, any as SLL, any as SLL2)', () => {
  const expected: Expect[] = [
    { family: 4, src: '127.0.0.1', dst: '127.0.0.1', proto: 'udp', srcPort: -1, dstPort: 8000, tcpFlags: 0, payloadHex: toHex(Buffer.from('hi\n')) },
    { family: 6, src: '::1', dst: '::1', proto: 'udp', srcPort: -1, dstPort: 62201, tcpFlags: 0, payloadHex: toHex(Buffer.from('spa-payload\n')) },
    { family: 4, src: '127.0.0.1', dst: '127.0.0.1', proto: 'tcp', srcPort: -1, dstPort: 7000, tcpFlags: 0x02, payloadHex: '' },
    { family: 6, src: '::1', dst: '::1', proto: 'tcp', srcPort: -1, dstPort: 9000, tcpFlags: 0x02, payloadHex: '' },
  ];
  const files: [string, number, LinkType][] = [['lo-ethernet.pcap', 1, 'ETHERNET'], ['any-sll.pcap', 113, 'LINUX_SLL'], ['any-sll2.pcap', 276, 'LINUX_SLL2']];
  for (const [file, dlt, link] of files) {
    const { linktype, frames } = readPcap(fixture('frames', file));
    assert.equal(linktype, dlt, file);
    assert.equal(frames.length, expected.length, file);
    frames.forEach((f, i) => {
      const p = decodeFrame(link, f);
      assert.ok(p, `${file} #${i}`);
      checkInvariants(p);
      const got = view(p);
      assert.ok(got.srcPort > 1023, 'ephemeral source port');
      assert.deepEqual({ ...got, srcPort: -1 }, expected[i], `${file} #${i}`);
    });
  }
});

test('the packet owns its bytes: mutating the frame afterwards changes nothing', () => {
  const f = bytes(hex(ETH('0800'), V4_UDP));
  const p = decodeFrame('ETHERNET', f);
  assert.ok(p);
  const before = JSON.stringify({ s: toHex(p.srcBytes), d: toHex(p.dstBytes), pl: toHex(p.payload) });
  f.fill(0xee);
  assert.equal(JSON.stringify({ s: toHex(p.srcBytes), d: toHex(p.dstBytes), pl: toHex(p.payload) }), before);
  assert.notEqual(p.payload.buffer, f.buffer);
  // also when the frame is a Node Buffer (whose slice() would be a view)
  const b = Buffer.from(hex(ETH('0800'), V4_UDP), 'hex');
  const q = decodeFrame('ETHERNET', b);
  assert.ok(q);
  b.fill(0);
  assert.equal(toHex(q.payload), '53504121');
  assert.equal(q.src, '192.0.2.7');
  assert.equal(toHex(q.srcBytes), 'c0000207');
});

test('a large UDP datagram decodes with its payload capped at MAX_PAYLOAD', () => {
  const n = 3000;
  const ipLen = 20 + 8 + n, udpLen = 8 + n;
  const h = hex(`4500 ${ipLen.toString(16).padStart(4, '0')} 1234 4000 4011 0000 c0000207 0a000002`,
    `d431 f2f9 ${udpLen.toString(16).padStart(4, '0')} 0000`, 'ab'.repeat(n));
  const p = decodeFrame('RAW', bytes(h));
  assert.ok(p);
  assert.equal(p.payload.length, MAX_PAYLOAD);
  assert.ok(p.payload.every((x) => x === 0xab));
});

test('every truncation of every valid vector: no throw, undefined or a consistent prefix', () => {
  let decodedPrefixes = 0;
  for (const v of VALID) {
    const full = bytes(v.hex);
    const want = v.expect;
    assert.ok(want);
    for (let n = 0; n < full.length; n++) {
      const p = decodeFrame(v.link, full.subarray(0, n));
      if (p === undefined) continue;
      decodedPrefixes++;
      checkInvariants(p);
      const got = view(p);
      assert.deepEqual({ ...got, payloadHex: '' }, { ...want, payloadHex: '' }, `${v.name} cut at ${n}`);
      assert.ok(want.payloadHex.startsWith(got.payloadHex), `${v.name} cut at ${n}: payload is a prefix`);
    }
  }
  assert.ok(decodedPrefixes > 0, 'some truncated UDP frames still decode (payload bounded by capture)');
});

test('undecodable link type values are rejected, not thrown on', () => {
  assert.equal(decodeFrame('FDDI' as LinkType, bytes(V4_UDP)), undefined);
  assert.equal(decodeFrame('RAW', 'not bytes' as unknown as Uint8Array), undefined);
});

/** xorshift32: deterministic fuzz input (core tests avoid Math.random for reproducibility). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

test('fuzz: 200k random and mutated frames never throw and always satisfy the invariants', () => {
  const links: LinkType[] = ['ETHERNET', 'LINUX_SLL', 'LINUX_SLL2', 'NULL', 'RAW'];
  const seeds = VALID.map((v) => ({ link: v.link, f: bytes(v.hex) }));
  const r = rng(0x5eed1234);
  let decoded = 0;
  const t0 = performance.now();
  const N = 200_000;
  for (let i = 0; i < N; i++) {
    let link: LinkType;
    let f: Uint8Array;
    if (i % 4 === 0) {
      link = links[r() % links.length] ?? 'RAW';
      f = new Uint8Array(r() % 120);
      for (let j = 0; j < f.length; j++) f[j] = r() & 0xff;
      if (f.length > 0 && r() % 2 === 0) f[0] = (r() % 2 ? 0x45 : 0x60);
    } else {
      const s = seeds[r() % seeds.length];
      assert.ok(s);
      link = i % 17 === 0 ? (links[r() % links.length] ?? 'RAW') : s.link;
      f = Uint8Array.from(s.f);
      const flips = 1 + (r() % 4);
      for (let k = 0; k < flips && f.length > 0; k++) {
        const pos = r() % f.length;
        if (r() % 3 === 0) f[pos] = r() & 0xff; else f[pos] = (f[pos] ?? 0) ^ (1 << (r() % 8));
      }
      if (r() % 5 === 0) f = f.subarray(0, r() % (f.length + 1));
    }
    const p = decodeFrame(link, f);
    if (p !== undefined) { decoded++; checkInvariants(p); }
  }
  const ms = performance.now() - t0;
  console.log(`# fuzz: ${N} frames, ${decoded} decoded, ${(N / ms * 1000).toFixed(0)} frames/s (incl. invariant checks)`);
  assert.ok(decoded > 1000 && decoded < N, 'the mutator produces both decodable and undecodable frames');
});

test('decodeFrame(link, buffer, n) reads only the first n bytes: same result as a view, whatever follows', () => {
  const r = rng(0xb0ff);
  const big = new Uint8Array(65535);
  for (const v of [...VALID, ...INVALID]) {
    const full = bytes(v.hex);
    for (let n = 0; n <= full.length; n++) {
      // stale bytes of an earlier, longer frame after the n bytes of this one (cap reuses its buffer)
      for (let j = 0; j < 256; j++) big[j] = r() & 0xff;
      big.set(full.subarray(0, n));
      const want = decodeFrame(v.link, full.subarray(0, n));
      const got = decodeFrame(v.link, big, n);
      assert.deepEqual(got && view(got), want && view(want), `${v.name} length ${n}`);
      if (got) checkInvariants(got);
    }
  }
  // out-of-range lengths are clamped to the array, never read past it
  const f = bytes(VALID[0]!.hex);
  assert.deepEqual(view(decodeFrame(VALID[0]!.link, f, 1e9)!), view(decodeFrame(VALID[0]!.link, f)!));
  for (const bad of [-1, Number.NaN, 0]) assert.equal(decodeFrame(VALID[0]!.link, f, bad), undefined);
});

test('decoded packets own their bytes: a later frame in the same buffer changes nothing', () => {
  const buf = new Uint8Array(2048);
  const a = bytes(V4_UDP);
  buf.set(a);
  const p = decodeFrame('RAW', buf, a.length);
  assert.ok(p);
  const before = view(p), src = Uint8Array.from(p.srcBytes), dst = Uint8Array.from(p.dstBytes);
  buf.fill(0xee);
  assert.deepEqual(view(p), before);
  assert.deepEqual(p.srcBytes, src);
  assert.deepEqual(p.dstBytes, dst);
});
