/**
 * One `KEY = VALUE` line of a knockd.conf being applied: where it is (for messages) and the
 * value readers shared by [options] and door keys. Pure.
 */
import { AppError, type ErrorCode } from '../errors.js';
import type { ParseEnv } from './parse.js';

export interface Where { line: number; section?: string; key?: string; value?: string; text?: string }

export const q = (s: string): string => JSON.stringify(s);
export const short = (s: string): string => (s.length > 60 ? `${s.slice(0, 60)}...` : s);

/** Throws AppError(code) "FILE:LINE: [section] key = "value": what (hint)". */
export function failAt(file: string, code: ErrorCode, w: Where, what: string, hint?: string): never {
  const parts: string[] = [];
  if (w.section !== undefined) parts.push(`[${w.section}]`);
  if (w.key !== undefined) parts.push(w.value !== undefined ? `${w.key} = ${q(w.value)}` : w.key);
  else if (w.text !== undefined) parts.push(q(w.text));
  const loc = parts.length ? ` ${parts.join(' ')}` : '';
  throw new AppError(code, `${file}:${w.line}:${loc}: ${what}${hint ? ` (${hint})` : ''}`);
}

export interface Directive {
  readonly file: string;
  readonly env: ParseEnv;
  readonly warnings: string[];
  readonly w: Where;
  /** Upper-cased key (knockd compares keys case-insensitively). */
  readonly key: string;
  /** The key as written. */
  readonly keyText: string;
  readonly value: string;
  fail(code: ErrorCode, what: string, hint?: string): never;
  /** A decimal number in [min, max]. */
  num(min: number, max: number, unit?: string): number;
  yesNo(): boolean;
  /** A non-empty path, made absolute. */
  path(): string;
}

export function directive(file: string, env: ParseEnv, warnings: string[], w: Where, key: string, keyText: string, value: string): Directive {
  const fail = (code: ErrorCode, what: string, hint?: string): never => failAt(file, code, w, what, hint);
  return {
    file, env, warnings, w, key, keyText, value, fail,
    num(min, max, unit = '') {
      if (!/^[0-9]+$/.test(value)) {
        fail('ERR_CONFIG_VALUE', `not a decimal number ${min}..${max}${unit}`, 'knockd would read it with atoi(); write digits only');
      }
      const n = value.replace(/^0+(?=\d)/, '').length > 10 ? Infinity : Number(value);
      if (n < min || n > max) fail('ERR_CONFIG_VALUE', `out of range, use ${min}..${max}${unit}`);
      return n;
    },
    yesNo() {
      const v = value.toLowerCase();
      if (v === 'yes') return true;
      if (v === 'no') return false;
      return fail('ERR_CONFIG_VALUE', 'expected yes or no');
    },
    path() {
      if (value === '') fail('ERR_CONFIG_VALUE', 'empty path', 'remove the line to use the default');
      return env.resolvePath(value);
    },
  };
}
