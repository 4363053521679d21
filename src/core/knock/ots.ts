/**
 * One-time-sequence files (knockd `One_Time_Sequences`, knockd-behaviour.md §1.7). Pure text
 * helpers; the file I/O (atomic replace) lives in src/io/ots-file.ts.
 *
 * File format as knockd: one sequence per line in `Sequence` syntax; lines are trimmed; empty
 * lines and lines starting with `#` are skipped; a line that does not parse is skipped.
 * The current sequence of the door is always the first valid line.
 *
 * Differences from knockd (bugs fixed):
 *  - a used line is marked by PREFIXING `#` (knockd overwrites the first byte, destroying a
 *    leading digit: `2101,2102` → `#101,2102`); every other byte, including CRLF line ends, is kept;
 *  - the used line is found by comparing every hit (knockd's memcmp compares too few bytes and an
 *    invalid line before the current one gets the `#` instead, making the sequence reusable, R08).
 *
 * Text is handled as a JS string; src/io/ots-file.ts reads/writes it as latin1 so that
 * arbitrary bytes survive a rewrite unchanged. A UTF-8 BOM at the start (either as U+FEFF or as
 * its three latin1 characters) is ignored for parsing and kept in front of the `#`.
 */
import type { Hit } from '../config/types.js';
import { parseSequence } from '../config/sequence.js';
import { AppError } from '../errors.js';

export interface OtsLine { lineIndex: number; hits: Hit[] }

const BOMS = ['\uFEFF', '\u00EF\u00BB\u00BF'];

function bomLength(line: string): number {
  for (const b of BOMS) if (line.startsWith(b)) return b.length;
  return 0;
}

/** Lines split on '\n' (a trailing '\r' stays part of the raw line, it is trimmed for parsing). */
function splitLines(text: string): string[] {
  return text.split('\n');
}

/** Every valid (parseable, not empty, not commented) line, in file order, read lazily. */
function* eachValid(text: string): Generator<OtsLine> {
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    let raw = lines[i] ?? '';
    if (i === 0) raw = raw.slice(bomLength(raw));
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) continue;
    const r = parseSequence(t);
    if (r.ok && r.hits.length > 0) yield { lineIndex: i, hits: r.hits };
  }
}

/** Every valid (parseable, not empty, not commented) line, in file order. */
export function validSequences(text: string): OtsLine[] {
  return [...eachValid(text)];
}

/** The first valid line (the door's current sequence), or undefined when the file is exhausted. */
export function firstValidSequence(text: string): OtsLine | undefined {
  for (const l of eachValid(text)) return l;
  return undefined;
}

/** Two sequences are equal when every hit (port and protocol) is equal, in order. */
export function hitsEqual(a: readonly Hit[], b: readonly Hit[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x === undefined || y === undefined || x.port !== y.port || x.proto !== y.proto) return false;
  }
  return true;
}

/** The first valid line whose hits equal `used`, or undefined. */
export function findSequence(text: string, used: readonly Hit[]): OtsLine | undefined {
  return validSequences(text).find((l) => hitsEqual(l.hits, used));
}

/**
 * The file text with line `lineIndex` (0-based, lines split on '\n') prefixed by '#'. Every
 * other byte is unchanged. Throws AppError(ERR_INTERNAL) for a line index outside the text (caller bug).
 */
export function markUsed(text: string, lineIndex: number): string {
  const lines = splitLines(text);
  if (!Number.isInteger(lineIndex) || lineIndex < 0 || lineIndex >= lines.length) {
    throw new AppError('ERR_INTERNAL', `markUsed: line index ${lineIndex} outside 0..${lines.length - 1}`);
  }
  const line = lines[lineIndex] ?? '';
  const keep = lineIndex === 0 ? bomLength(line) : 0;
  lines[lineIndex] = line.slice(0, keep) + '#' + line.slice(keep);
  return lines.join('\n');
}
