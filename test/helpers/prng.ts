/** Deterministic pseudo-random source (xorshift32) for generated test inputs: no ambient randomness in tests. */
export interface Prng {
  next(): number;
  /** 0 .. n-1 */
  int(n: number): number;
  bytes(n: number): Uint8Array;
  /** A string of 0 .. maxLen-1 characters drawn from `alphabet`. */
  string(alphabet: string | readonly string[], maxLen: number): string;
}

export function prng(seed: number): Prng {
  let x = seed >>> 0 || 1;
  const next = (): number => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const int = (n: number): number => next() % n;
  return {
    next, int,
    bytes: (n) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = next() & 0xff; return b; },
    string: (alphabet, maxLen) => {
      const len = int(maxLen);
      let s = '';
      for (let k = 0; k < len; k++) s += alphabet[int(alphabet.length)] as string;
      return s;
    },
  };
}
