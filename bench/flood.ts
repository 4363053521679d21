/**
 * Bounded floods against the SPA port, reusable by benchmarks and tests.
 *
 * - `hpingFloodArgs()`: junk UDP datagrams at the fastest rate hping3 generates (`--flood`).
 *   hping3 ignores `-c` in flood mode (checked: `--flood -c 300000` sent 548,600 in 5 s), so the
 *   bound is the time limit enforced by `timeout(1)` around it, plus stop-by-PID.
 * - `udpFlood()`: a Node sender (bounded in count AND time) for payloads hping3 cannot vary per
 *   packet: random base64 text (fwknop forgeries: pass its cheap checks, fail HMAC) and SPA
 *   forgeries built on a template (a real enrolled key id, random MAC and signature).
 *
 * SPA layout assumed by `spaForgeryTemplate()` (PROTOCOL.md by h4 — VERIFY against it):
 *   0 "KN" | 2 version=1 | 3 alg | 4 key id (8) | 12 timestamp (8) | 20 nonce (16) | 36 ttl (4)
 *   | 40 flags (1) | 41 door len (1) | 42 allow ip (16) | 58 server ip (16) | 74 door (n)
 *   | mac1 (16) | Ed25519 signature (64)
 * When a real datagram of our client was captured, `forgeryFromSample()` is used instead: same
 * length and header, random nonce/MAC/signature — the hardest forgery to reject cheaply.
 */
import { createSocket } from 'node:dgram';
import { randomBytes, randomFillSync } from 'node:crypto';

export type FloodKind = 'junk' | 'b64' | 'template';

export interface FloodSpec {
  host: string;
  port: number;
  /** Local address to send from (the lab's flood address, so knock captures can exclude it). */
  bind?: string;
  kind: FloodKind;
  size: number;
  /** For kind 'template': hex bytes of the datagram and [start, end) ranges re-randomised per packet. */
  templateHex?: string;
  randomRanges?: Array<[number, number]>;
  /** Hard bounds: stop after `count` datagrams or `timeLimitMs`, whichever comes first. */
  count: number;
  timeLimitMs: number;
}

const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');

/** Fill `buf` for one datagram of the given kind (pool is pre-generated randomness). */
export function makePayload(spec: FloodSpec, out: Buffer, rnd: Buffer): void {
  if (spec.kind === 'junk') { rnd.copy(out, 0, 0, out.length); return; }
  if (spec.kind === 'b64') {
    for (let i = 0; i < out.length; i++) out[i] = B64[(rnd[i] as number) & 63] as number;
    return;
  }
  const tpl = Buffer.from(spec.templateHex ?? '', 'hex');
  tpl.copy(out, 0, 0, out.length);
  let k = 0;
  for (const [a, b] of spec.randomRanges ?? []) for (let i = a; i < b && i < out.length; i++) out[i] = rnd[k++ % rnd.length] as number;
}

/** Send a bounded flood; resolves with how many datagrams were handed to the kernel. */
export async function udpFlood(spec: FloodSpec): Promise<{ sent: number; ms: number; errors: number }> {
  if (!(spec.count > 0) || !(spec.timeLimitMs > 0)) throw new Error('flood needs a positive count and time limit');
  const sock = createSocket('udp4');
  await new Promise<void>((res, rej) => { sock.once('error', rej); sock.bind({ address: spec.bind, port: 0 }, () => res()); });
  sock.setSendBufferSize(4 * 1024 * 1024);
  const start = performance.now();
  let sent = 0, errors = 0;
  const ring: Buffer[] = Array.from({ length: 256 }, () => Buffer.alloc(spec.size));
  const pool = Buffer.alloc(spec.size * 2);
  let stopped = false;
  process.once('SIGINT', () => { stopped = true; });
  process.once('SIGTERM', () => { stopped = true; });
  while (!stopped && sent < spec.count && performance.now() - start < spec.timeLimitMs) {
    const batch = Math.min(256, spec.count - sent);
    const done: Promise<void>[] = [];
    for (let i = 0; i < batch; i++) {
      const buf = ring[i] as Buffer;
      randomFillSync(pool, 0, spec.size);
      makePayload(spec, buf, pool);
      if (i === batch - 1) {
        done.push(new Promise((res) => sock.send(buf, spec.port, spec.host, (e) => { if (e) errors++; res(); })));
      } else {
        sock.send(buf, spec.port, spec.host, (e) => { if (e) errors++; });
      }
    }
    sent += batch;
    await Promise.all(done);
    // send callbacks arrive via nextTick; yield to the event loop so SIGINT/SIGTERM are seen
    await new Promise<void>((r) => setImmediate(r));
  }
  const ms = performance.now() - start;
  await new Promise<void>((res) => sock.close(() => res()));
  return { sent, ms, errors };
}

/** hping3 junk flood argv (run inside the client namespace). */
export function hpingFloodArgs(o: { host: string; port: number; from: string; size: number; timeLimitS: number }): string[] {
  return ['timeout', '-s', 'INT', '-k', '3', String(o.timeLimitS),
    'hping3', '--udp', '--flood', '-q', '-p', String(o.port), '-d', String(o.size), '-a', o.from, o.host];
}

/** Parse hping3's closing statistics ("N packets transmitted"). */
export function hpingSent(log: string): number | undefined {
  const m = /(\d+) packets transmitted/.exec(log);
  return m ? Number(m[1]) : undefined;
}

// ---- SPA forgeries ----------------------------------------------------------------------

/** Offsets of the assumed layout (see header comment; VERIFY against PROTOCOL.md). */
export const SPA_GUESS = { keyId: 4, nonce: 20, nonceLen: 16, fixed: 74, mac1: 16, sig: 64 } as const;

/** A forgery template from the assumed layout: real magic/version/alg/key id, rest random. */
export function spaForgeryTemplate(keyId: Uint8Array, doorLen = 0, alg = 1): { templateHex: string; randomRanges: Array<[number, number]>; size: number } {
  const size = SPA_GUESS.fixed + doorLen + SPA_GUESS.mac1 + SPA_GUESS.sig;
  const b = randomBytes(size);
  b.write('KN', 0, 'latin1');
  b[2] = 1; b[3] = alg;
  Buffer.from(keyId).copy(b, SPA_GUESS.keyId);
  return { templateHex: b.toString('hex'), randomRanges: [[12, size]], size };
}

/**
 * A forgery template from a real datagram of our client: keep every byte (so length, key id,
 * timestamp window, addresses and door all pass the cheap checks) but randomise the nonce,
 * mac1 and signature on every packet.
 */
export function forgeryFromSample(sample: Uint8Array, nonce: [number, number] = [SPA_GUESS.nonce, SPA_GUESS.nonce + SPA_GUESS.nonceLen]): { templateHex: string; randomRanges: Array<[number, number]>; size: number } {
  const size = sample.length;
  const tail = SPA_GUESS.mac1 + SPA_GUESS.sig;
  return { templateHex: Buffer.from(sample).toString('hex'), randomRanges: [nonce, [size - tail, size]], size };
}
