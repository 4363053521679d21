/**
 * Test helpers for the knock state machine: door/packet builders and a tiny step language.
 *
 * A step is one of
 *   "T SRC HIT [FLAGS] [>DST]"   a packet at T seconds: HIT = 7000 | 7000/udp, FLAGS = letters
 *                                 of FSRPAU ("S" default for tcp, "-" = none), DST default 10.0.0.1
 *   "T expire"                    matcher.expire(T*1000)
 * Events render as "stage A 1.1.1.1 2", "open A 1.1.1.1", "timeout A 1.1.1.1 1", ...
 */
import type { Door, FlagName, Hit } from '../../../src/core/config/types.js';
import type { Packet, Proto } from '../../../src/core/types.js';
import { parseIp } from '../../../src/core/ip.js';
import type { KnockEvent, SequenceMatcher } from '../../../src/core/knock/matcher.js';

export const LOCAL = '10.0.0.1';

export function seq(text: string): Hit[] {
  return text.split(',').map((s) => {
    const [port, proto] = s.trim().split('/');
    return { port: Number(port), proto: (proto ?? 'tcp') as Proto };
  });
}

export function door(name: string, sequence: string, extra: Partial<Door> = {}): Door {
  return {
    name, line: 1, sequence: sequence === '' ? [] : seq(sequence), seqTimeout: 25,
    tcpFlags: {}, cmdTimeout: 10, spa: false, ...extra,
  };
}

export function flags(spec: string): Partial<Record<FlagName, boolean>> {
  const r: Partial<Record<FlagName, boolean>> = {};
  for (const tok of spec.split(',')) {
    const neg = tok.startsWith('!');
    r[(neg ? tok.slice(1) : tok) as FlagName] = !neg;
  }
  return r;
}

const FLAG_LETTERS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20 };

export function flagBits(letters: string): number {
  if (letters === '-') return 0;
  let b = 0;
  for (const c of letters) {
    const v = FLAG_LETTERS[c];
    if (v === undefined) throw new Error(`bad flag letter ${c}`);
    b |= v;
  }
  return b;
}

export function pkt(src: string, hit: string, opts: { flags?: number; dst?: string } = {}): Packet {
  const h = seq(hit)[0];
  if (!h) throw new Error(`bad hit ${hit}`);
  const s = parseIp(src), d = parseIp(opts.dst ?? LOCAL);
  if (!s || !d) throw new Error(`bad address ${src} / ${opts.dst}`);
  return {
    family: s.family, src: s.text, dst: d.text, srcBytes: s.bytes, dstBytes: d.bytes,
    proto: h.proto, srcPort: 40000, dstPort: h.port,
    tcpFlags: h.proto === 'tcp' ? (opts.flags ?? 0x02) : 0, payload: new Uint8Array(0),
  };
}

export function render(e: KnockEvent): string {
  switch (e.kind) {
    case 'stage': return `stage ${e.door.name} ${e.src} ${e.stage}`;
    case 'open': return `open ${e.door.name} ${e.src}`;
    case 'timeout': return `timeout ${e.door.name} ${e.src} ${e.stage}`;
    case 'invalid': return `invalid ${e.door.name} ${e.src} ${e.stage}`;
    case 'evicted': return `evicted ${e.door.name} ${e.src} ${e.stage}`;
    case 'refused': return `refused ${e.door.name} ${e.src}`;
  }
}

/** Run steps, return all rendered events in order. */
export function run(m: SequenceMatcher, steps: readonly string[]): string[] {
  const out: string[] = [];
  for (const step of steps) {
    const parts = step.trim().split(/\s+/);
    const t = Number(parts[0]);
    if (!Number.isFinite(t)) throw new Error(`bad step ${step}`);
    const now = Math.round(t * 1000);
    if (parts[1] === 'expire') {
      out.push(...m.expire(now).map(render));
      continue;
    }
    const src = parts[1], hit = parts[2];
    if (src === undefined || hit === undefined) throw new Error(`bad step ${step}`);
    let fl: number | undefined, dst: string | undefined;
    for (const extra of parts.slice(3)) {
      if (extra.startsWith('>')) dst = extra.slice(1);
      else fl = flagBits(extra);
    }
    out.push(...m.offer(pkt(src, hit, { flags: fl, dst }), now).map(render));
  }
  return out;
}

/** mulberry32: deterministic pseudo-random numbers in [0, 1) for randomized tests. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
