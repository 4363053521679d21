/**
 * In-process hot-path throughput: what node:crypto can do on this machine (the limit) and,
 * when src/core/spa/verify.ts is built, what our verifier does with junk, forgeries and
 * valid knocks. Single thread, fixed wall-time budget per measurement.
 */
import { createHmac, timingSafeEqual, generateKeyPairSync, createPrivateKey, sign, verify, randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import type { Door } from '../src/core/config/types.js';
import { parseIp } from '../src/core/ip.js';
import { keyIdHex } from '../src/core/keys/id.js';
import { Keyring } from '../src/core/keys/keyring.js';
import type { KeyRecord } from '../src/core/keys/record.js';
import type { ReplayLog } from '../src/core/spa/replay.js';
import { hmacSigner } from '../src/core/spa/sign.js';
import { SpaVerifier } from '../src/core/spa/verify.js';
import { encodeRequest } from '../src/core/spa/wire.js';
import { decodeFrame } from '../src/core/packet/decode.js';
import { SequenceMatcher } from '../src/core/knock/matcher.js';
import { DEFAULT_MAX_ATTEMPTS } from '../src/core/config/types.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { MatcherMem } from './matcher-mem.js';

/** `id` names the rows the target verdicts read: hmac, ed25519, magic, junk, forge-ed, forge-hm, ok-hm, ok-ed. */
export interface MicroRow { op: string; rate: number; note?: string; id?: string }

/** Operations per second of `fn` over roughly `ms` of wall time (after a short warm-up). */
export function rate(fn: (i: number) => unknown, ms: number): number {
  for (let i = 0; i < 2000; i++) fn(i);
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 1000; i++) fn(n + i);
    n += 1000;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

/** The limits: HMAC-SHA256 (+ 16-byte timingSafeEqual) and Ed25519 verify over datagram-sized input. */
export function rawRows(ms: number, msgLen = 90): { rows: MicroRow[]; hmacRate: number; edRate: number } {
  const key = randomBytes(32);
  const msgs = Array.from({ length: 64 }, () => randomBytes(msgLen));
  const expect = randomBytes(16);
  let sink = 0;
  const hmacRate = rate((i) => {
    const mac = createHmac('sha256', key).update(msgs[i & 63] as Buffer).digest().subarray(0, 16);
    if (timingSafeEqual(mac, expect)) sink++;
  }, ms);
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const sigs = msgs.map((m) => sign(null, m, privateKey));
  const edRate = rate((i) => { if (verify(null, msgs[i & 63] as Buffer, publicKey, sigs[i & 63] as Buffer)) sink++; }, ms);
  const lenCheck = rate((i) => { const m = msgs[i & 63] as Buffer; if (m[0] === 0x4b && m[1] === 0x4e) sink++; }, Math.min(ms, 300));
  void sink;
  return {
    hmacRate, edRate,
    rows: [
      { id: 'hmac', op: `node:crypto HMAC-SHA256(${msgLen} B) + timingSafeEqual (limit for keyed rejects)`, rate: hmacRate },
      { id: 'ed25519', op: `node:crypto Ed25519 verify (${msgLen} B) (limit for signed knocks)`, rate: edRate },
      { id: 'magic', op: 'magic-byte check alone (limit for junk rejects)', rate: lenCheck },
    ],
  };
}

/**
 * Our verifier (src/core/spa/verify.ts) on pre-built datagrams: junk, forgeries naming a real
 * enrolled key id (valid structure, random mac1 / tag), and valid HMAC-keyed and Ed25519
 * knocks. Rate limits are lifted and the replay log is a no-op so the same valid datagrams
 * can be verified repeatedly (the replay insert is one Map.set in the real path).
 */
export function ourRows(ms: number, limits: { hmacRate: number; edRate: number }): MicroRow[] {
  const door: Door = { name: 'bench', line: 1, sequence: [], seqTimeout: 25, tcpFlags: {}, startCommand: 'true', cmdTimeout: 10, spa: true };
  const seed = randomBytes(32);
  const kp = nacl.sign.keyPair.fromSeed(seed);
  // node:crypto signs (tweetnacl is far slower here); same key, same signatures
  const priv = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: Buffer.from(kp.publicKey).toString('base64url') }, format: 'jwk' });
  const secret = randomBytes(32);
  const records: KeyRecord[] = [
    { name: 'ed', type: 'ed25519', id: keyIdHex('ed25519', kp.publicKey), publicKey: kp.publicKey, doors: [], from: [] },
    { name: 'hm', type: 'hmac', id: keyIdHex('hmac', secret), secret, doors: [], from: [] },
  ];
  const noReplay: ReplayLog = { has: () => false, add: () => 'added' };
  const huge = { burst: 1e12, perSecond: 1e12 };
  const now = 1_800_000_000_000;
  const v = new SpaVerifier(new Keyring(records), noReplay, { doors: [door], ownAddrs: () => ['10.0.0.1'], spaAddrs: [], windowMs: 60_000 }, { perKey: huge, global: huge });
  const server = parseIp('10.0.0.1'), allow = parseIp('10.0.0.2');
  if (!server || !allow) throw new Error('parseIp');
  const fields = (i: number) => ({ timestampMs: now - (i % 1000), nonce: randomBytes(16), ttl: 0, allowIp: allow, serverIp: server, door: 'bench' });
  const edSigner = { alg: 'ed25519' as const, publicKey: kp.publicKey, sign: (m: Uint8Array) => new Uint8Array(sign(null, m, priv)) };
  const N = 64;
  const validEd = Array.from({ length: N }, (_, i) => encodeRequest(fields(i), edSigner));
  const validHm = Array.from({ length: N }, (_, i) => encodeRequest(fields(i), hmacSigner(secret)));
  const junk = Array.from({ length: N }, () => new Uint8Array(randomBytes(validEd[0]?.length ?? 159)));
  const forgeEd = validEd.map((d) => { const f = Uint8Array.from(d); f.set(randomBytes(80), f.length - 80); return f; });
  const forgeHm = validHm.map((d) => { const f = Uint8Array.from(d); f.set(randomBytes(32), f.length - 32); return f; });
  const expect = (set: Uint8Array[], want: string): void => {
    for (const d of set) {
      const r = v.check(d, '10.0.0.2', now);
      const got = r.ok ? 'ok' : r.reason;
      if (got !== want) throw new Error(`bench fixture: expected ${want}, verifier said ${got}`);
    }
  };
  expect(validEd, 'ok'); expect(validHm, 'ok'); expect(forgeEd, 'bad-mac'); expect(forgeHm, 'forged'); expect(junk, 'malformed');
  const r = (set: Uint8Array[]) => rate((i) => v.check(set[i & (N - 1)] as Uint8Array, '10.0.0.2', now), ms);
  const junkR = r(junk), fEd = r(forgeEd), fHm = r(forgeHm), okHm = r(validHm), okEd = r(validEd);
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}x of the limit`;
  return [
    { id: 'junk', op: 'ours: junk datagram rejected (malformed)', rate: junkR, note: `${(junkR / limits.hmacRate).toFixed(1)}x the raw HMAC rate` },
    { id: 'forge-ed', op: 'ours: Ed25519-key forgery rejected at mac1 (real key id)', rate: fEd, note: x(fEd, limits.hmacRate) + ' (HMAC)' },
    { id: 'forge-hm', op: 'ours: HMAC-key forgery rejected at tag (real key id)', rate: fHm, note: x(fHm, limits.hmacRate) + ' (HMAC)' },
    { id: 'ok-hm', op: 'ours: HMAC-keyed knock verified (full policy path)', rate: okHm, note: x(okHm, limits.hmacRate) + ' (HMAC)' },
    { id: 'ok-ed', op: 'ours: Ed25519 knock verified (mac1 + signature + policy)', rate: okEd, note: x(okEd, limits.edRate) + ' (Ed25519)' },
  ];
}

/** A TCP SYN to 10.0.0.1:7000 in an Ethernet frame, at the start of a 64 KiB buffer (as cap delivers it). */
function synBuffer(): Buffer {
  const b = Buffer.alloc(65535);
  Buffer.from('0242ac11000202420000000108004500002800010000400600000a0000020a0000019c401b580000000000000000500204000000' + '0000', 'hex').copy(b);
  return b;
}

/**
 * The classic-door hot path in-process: decoding a SYN from cap's reused buffer, and decode +
 * matcher.offer() for spoofed first-port SYNs with the attempt table at the default cap
 * (every packet evicts the oldest attempt). Spoofed sources are written into the frame.
 */
export function classicRows(ms: number): MicroRow[] {
  const buf = synBuffer();
  let sink = 0;
  const spoof = (i: number): void => { buf[26] = 10 + ((i >>> 24) & 0x7f); buf[27] = (i >>> 16) & 255; buf[28] = (i >>> 8) & 255; buf[29] = i & 255; };
  const dec = rate((i) => { spoof(i); const p = decodeFrame('ETHERNET', buf, 54); if (p) sink += p.dstPort; }, ms);
  const door: Door = { name: 'bench', line: 1, sequence: [{ port: 7000, proto: 'tcp' }, { port: 8000, proto: 'tcp' }, { port: 9000, proto: 'tcp' }], seqTimeout: 60, tcpFlags: { syn: true }, cmdTimeout: 10, spa: false };
  const m = new SequenceMatcher([door], { maxAttempts: DEFAULT_MAX_ATTEMPTS, localAddrs: ['10.0.0.1'] });
  const now = 1_800_000_000_000;
  for (let i = 0; i < DEFAULT_MAX_ATTEMPTS; i++) { spoof(0x4000000 + i); const p = decodeFrame('ETHERNET', buf, 54); if (p) m.offer(p, now); }
  let k = 0;
  const off = rate(() => { spoof(k++); const p = decodeFrame('ETHERNET', buf, 54); if (p) sink += m.offer(p, now).length; }, ms);
  void sink;
  return [
    { id: 'decode', op: 'decode: TCP SYN frame from cap\'s reused 64 KiB buffer (Ethernet, IPv4)', rate: dec },
    { id: 'offer', op: `decode + matcher: spoofed first-port SYN, table at the ${DEFAULT_MAX_ATTEMPTS.toLocaleString('en')} cap (evicts per packet)`, rate: off, note: `${m.size()} attempts held` },
  ];
}

/** The matcher alone in a --expose-gc child (matcher-mem.ts): memory per attempt at the cap. */
export function matcherMemRow(hits = 200_000): MicroRow {
  const js = fileURLToPath(new URL('./matcher-mem.js', import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', js, String(hits), String(DEFAULT_MAX_ATTEMPTS)], { encoding: 'utf8', timeout: 120_000 });
  const op = `matcher alone: ${hits.toLocaleString('en')} spoofed first-port hits, cap ${DEFAULT_MAX_ATTEMPTS.toLocaleString('en')} (own process, full GC before/after)`;
  try {
    const m = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as MatcherMem;
    return { id: 'matcher-mem', op, rate: m.rate, note: `${m.held.toLocaleString('en')} attempts: V8 heap ${m.heapMb >= 0 ? '+' : ''}${m.heapMb.toFixed(1)} MB, ArrayBuffers +${m.arrayBuffersMb.toFixed(1)} MB, RssAnon +${m.rssAnonMb.toFixed(1)} MB; ${m.bytesPerAttempt.toFixed(0)} B/attempt (heap + ArrayBuffers)` };
  } catch { return { id: 'matcher-mem', op, rate: NaN, note: `failed: ${(r.stderr || r.error?.message || '').trim().slice(0, 200)}` }; }
}

/** Raw limits and our rates, `rounds` interleaved rounds, best rate per operation (least disturbed). */
export function microAll(ms: number, rounds: number, msgLen: number): MicroRow[] {
  const best = new Map<string, MicroRow>();
  const keep = (r: MicroRow): void => { const b = best.get(r.op); if (!b || !(b.rate >= r.rate)) best.set(r.op, r); };
  for (let i = 0; i < rounds; i++) {
    const raw = rawRows(ms, msgLen);
    raw.rows.forEach(keep);
    const lim = { hmacRate: best.get(raw.rows[0]?.op ?? '')?.rate ?? raw.hmacRate, edRate: best.get(raw.rows[1]?.op ?? '')?.rate ?? raw.edRate };
    try { ourRows(ms, lim).forEach(keep); } catch (e) { keep({ op: 'our verifier', rate: NaN, note: `not available: ${(e as Error).message}` }); }
    classicRows(ms).forEach(keep);
  }
  keep(matcherMemRow());
  // notes relative to the best limits
  const rows = [...best.values()];
  const hmac = rows[0]?.rate ?? NaN, ed = rows[1]?.rate ?? NaN;
  for (const r of rows) {
    if (!r.op.startsWith('ours:')) continue;
    const lim = /Ed25519 knock/.test(r.op) ? ed : hmac;
    r.note = /junk/.test(r.op) ? `${(r.rate / hmac).toFixed(1)}x the raw HMAC rate` : `${(r.rate / lim).toFixed(2)}x the raw ${lim === ed ? 'Ed25519' : 'HMAC'} rate`;
  }
  return rows;
}
