/**
 * Which 32-byte strings are acceptable as Ed25519 public keys (PROTOCOL.md §2).
 *
 * A public key A is refused when its encoding is not canonical (y >= p, or x = 0 with the sign
 * bit set), when it is not a point of the curve, or when it has small order (8A = identity: the
 * eight points of order 1, 2, 4 and 8). With a small-order A, the verification equation
 * [S]B = R + [k]A holds for R = identity and S = 0 whatever the message, so anyone could forge
 * for such a key without a private key; and such a key's id is a constant an attacker can name
 * blindly. A real key pair (A = [a]B, any Ed25519 implementation) is never refused.
 *
 * Arithmetic on the twisted Edwards curve -x^2 + y^2 = 1 + d x^2 y^2 over p = 2^255 - 19
 * (RFC 8032 §5.1), affine, with BigInt: slow (~1 ms), so ed25519KeyProblem runs only when a
 * key is enrolled. Loading records and installing a keyring use weakEncodingProblem (a lookup in
 * the 14 encodings of small-order points, plus y >= p), which refuses every key a signature can
 * be forged for; the verifier checks a signature's R against the same 14 (isSmallOrderEncoding). Pure.
 */

const P = 2n ** 255n - 19n;
// Computed on first use: two 255-bit exponentiations cost ~0.5 ms, and the client bundle loads
// this module on every start without needing it.
let dConst: bigint | undefined, sqrtM1Const: bigint | undefined;
const D_ = (): bigint => (dConst ??= mod(-121665n * inv(121666n)));
const SQRT_M1_ = (): bigint => (sqrtM1Const ??= pow(2n, (P - 1n) / 4n));

function mod(a: bigint): bigint {
  const r = a % P;
  return r >= 0n ? r : r + P;
}
function pow(b: bigint, e: bigint): bigint {
  let r = 1n, x = mod(b), n = e;
  while (n > 0n) {
    if (n & 1n) r = (r * x) % P;
    x = (x * x) % P;
    n >>= 1n;
  }
  return r;
}
function inv(a: bigint): bigint { return pow(a, P - 2n); }

interface Point { readonly x: bigint; readonly y: bigint }

/** Edwards addition (complete for this curve: the denominators never vanish). */
function add(a: Point, b: Point): Point {
  const t = mod(D_() * a.x * b.x * a.y * b.y);
  return {
    x: mod((a.x * b.y + a.y * b.x) * inv(1n + t)),
    y: mod((a.y * b.y + a.x * b.x) * inv(1n - t)),
  };
}

export type PointProblem = 'length' | 'non-canonical' | 'not-on-curve' | 'small-order';

function decode(b: Uint8Array): Point | PointProblem {
  if (b.length !== 32) return 'length';
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? (b[i] ?? 0) & 0x7f : (b[i] ?? 0));
  const sign = ((b[31] ?? 0) >> 7) & 1;
  if (y >= P) return 'non-canonical';
  // x^2 = (y^2 - 1) / (d y^2 + 1)  (RFC 8032 §5.1.3)
  const u = mod(y * y - 1n), v = mod(D_() * y * y + 1n);
  let x = mod(u * pow(v, 3n) * pow(u * pow(v, 7n), (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 === u) { /* x is a root */ } else if (vx2 === mod(-u)) x = mod(x * SQRT_M1_());
  else return 'not-on-curve';
  if (x === 0n && sign === 1) return 'non-canonical';
  if (Number(x & 1n) !== sign) x = P - x;
  return { x, y };
}

/** Why `pub` is not an acceptable Ed25519 public key, or undefined when it is. */
export function ed25519KeyProblem(pub: Uint8Array): PointProblem | undefined {
  const a = decode(pub);
  if (typeof a === 'string') return a;
  let q = a;
  for (let i = 0; i < 3; i++) q = add(q, q);   // 8A
  return q.x === 0n && q.y === 1n ? 'small-order' : undefined;
}

export const POINT_PROBLEM_TEXT: Readonly<Record<PointProblem, string>> = {
  length: 'not 32 bytes',
  'non-canonical': 'a non-canonical encoding (y >= p, or x = 0 with the sign bit set)',
  'not-on-curve': 'not a point of the Ed25519 curve',
  'small-order': 'a small-order point (anyone could forge signatures for it)',
};

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** 32-byte little-endian encoding of y (< 2^255) with the sign bit of x. */
export function encode(y: bigint, sign: number): Uint8Array {
  const out = new Uint8Array(32);
  let v = y;
  for (let i = 0; i < 32; i++) { out[i] = Number(v & 0xffn); v >>= 8n; }
  out[31] = ((out[31] ?? 0) & 0x7f) | (sign << 7);
  return out;
}

/**
 * Every 32-byte encoding that decodes (leniently: y taken mod p, either sign for x = 0) to a
 * point of small order: the 8 canonical ones, their y + p forms (y = 0 and y = 1 only; other y
 * + p exceed 255 bits) and the x = 0 points with the sign bit set. 14 in all (hex).
 */
function computeSmallOrderEncodings(): Set<string> {
  const ys = new Set<bigint>([1n, P - 1n, 0n]);   // order 1 and 2 (x = 0), order 4 (y = 0, x = ±sqrt(-1))
  // Order 8: 2Q is an order-4 point, so its y is 0: y^2 + x^2 = 0 (doubling, a = -1). On the curve
  // that gives d y^4 + 2 y^2 - 1 = 0, so y^2 = (-1 ± sqrt(1 + d)) / d.
  const s = sqrt(mod(1n + D_())) ?? 0n;
  for (const num of [mod(-1n + s), mod(-1n - s)]) {
    const y = sqrt(mod(num * inv(D_())));
    if (y === undefined) continue;
    for (const yy of [y, mod(-y)]) {
      const q = decode(encode(yy, 0));
      if (typeof q !== 'string' && add(q, q).y === 0n) ys.add(yy);
    }
  }
  const out = new Set<string>();
  for (const y of ys) {
    for (const yEnc of y + P < 2n ** 255n ? [y, y + P] : [y]) {
      for (const sign of [0, 1]) out.add(hex(encode(yEnc, sign)));
    }
  }
  return out;
}

function sqrt(a: bigint): bigint | undefined {
  let r = pow(a, (P + 3n) / 8n);
  if (mod(r * r) !== mod(a)) r = mod(r * SQRT_M1_());
  return mod(r * r) === mod(a) ? r : undefined;
}

let smallOrder: Map<string, PointProblem> | undefined;

/**
 * Every encoding of a small-order point (14, hex) with what is wrong with it: 'small-order' for
 * the 8 canonical ones, 'non-canonical' for the others. Computed on first use (a few ms of
 * BigInt work), so the client, which never checks keys, does not pay for it at start-up.
 */
export function smallOrderEncodings(): ReadonlyMap<string, PointProblem> {
  if (!smallOrder) {
    smallOrder = new Map();
    for (const h of computeSmallOrderEncodings()) {
      const b = new Uint8Array(32);
      for (let i = 0; i < 32; i++) b[i] = Number.parseInt(h.slice(2 * i, 2 * i + 2), 16);
      smallOrder.set(h, ed25519KeyProblem(b) ?? 'small-order');
    }
  }
  return smallOrder;
}

/** Per packet: is this 32-byte encoding (a signature's R) one of a small-order point? */
export function isSmallOrderEncoding(b: Uint8Array): boolean {
  return b.length === 32 && smallOrderEncodings().has(hex(b));
}

/** y >= p: the encoding is not canonical (whatever point it would name). */
function yNotReduced(b: Uint8Array): boolean {
  if (((b[31] ?? 0) & 0x7f) !== 0x7f || (b[0] ?? 0) < 0xed) return false;
  for (let i = 1; i < 31; i++) if (b[i] !== 0xff) return false;
  return true;
}

/**
 * The cheap test (a set lookup and a comparison, no curve arithmetic) used when records are
 * loaded and when a keyring is installed: every encoding of a small-order point and every
 * y >= p. These are all the keys a signature can be forged for without a private key;
 * ed25519KeyProblem (at enrolment) also refuses strings that are no point at all.
 */
export function weakEncodingProblem(b: Uint8Array): PointProblem | undefined {
  if (b.length !== 32) return 'length';
  const so = smallOrderEncodings().get(hex(b));
  if (so) return so;
  return yNotReduced(b) ? 'non-canonical' : undefined;
}

export function isWeakEncoding(b: Uint8Array): boolean {
  return weakEncodingProblem(b) !== undefined;
}
