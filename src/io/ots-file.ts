/**
 * One-time-sequence file rotation (knockd §1.7) with the knockd bugs fixed:
 *  - the file is re-read, the FIRST valid line whose hits all equal the used sequence is marked
 *    with a '#' PREFIX (no byte of the line is destroyed), every other byte is kept (CRLF too);
 *  - the rewrite is an atomic replace: temp file in the same directory with the same mode (and
 *    owner when we may), fsync, rename over the original, fsync of the directory. Readers see
 *    either the old or the new file, never a partial one, and a crash leaves one of the two;
 *  - when no valid line is left the result is `{ next: undefined }` (the daemon disables the
 *    door; knockd aborts with a double free here).
 *
 * If the used sequence is not in the file (edited meanwhile, or the door's first round came from
 * a `sequence =` override), nothing is marked and the first valid line is returned.
 * File errors (missing, unreadable, directory not writable) throw AppError('ERR_OTS_FILE').
 * Bytes are handled as latin1 so that any content survives the rewrite unchanged.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { writeFileAtomic } from './safe-file.js';
import type { Hit } from '../core/config/types.js';
import { AppError } from '../core/errors.js';
import { findSequence, firstValidSequence, markUsed } from '../core/knock/ots.js';

const msg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Read an OTS file's text (latin1: bytes preserved). */
export function readOtsFile(path: string): string {
  try {
    return readFileSync(path, 'latin1');
  } catch (e) {
    throw new AppError('ERR_OTS_FILE', `one-time sequences file ${path}: cannot read: ${msg(e)}`, { cause: e });
  }
}

/** The current (first valid) sequence of an OTS file, or undefined when it is exhausted. */
export function currentOneTimeSequence(path: string): Hit[] | undefined {
  return firstValidSequence(readOtsFile(path))?.hits;
}

/** Replace `path` atomically with `text` (latin1 bytes), keeping its mode and (if permitted) owner. */
export function atomicReplace(path: string, text: string): void {
  let real: string;
  let st: ReturnType<typeof statSync>;
  try {
    real = realpathSync(path);   // a symlinked file keeps its link; the target is replaced
    st = statSync(real);
  } catch (e) {
    throw new AppError('ERR_OTS_FILE', `one-time sequences file ${path}: ${msg(e)}`, { cause: e });
  }
  try {
    writeFileAtomic(real, Buffer.from(text, 'latin1'), { code: 'ERR_OTS_FILE', mode: st.mode & 0o7777, owner: { uid: st.uid, gid: st.gid } });
  } catch (e) {
    throw new AppError('ERR_OTS_FILE', `one-time sequences file ${path}: cannot rewrite: ${msg(e)}`, { cause: e });
  }
}

export function consumeOneTimeSequence(path: string, used: readonly Hit[]): { next: Hit[] | undefined } {
  const text = readOtsFile(path);
  const line = findSequence(text, used);
  if (line === undefined) return { next: firstValidSequence(text)?.hits };
  const updated = markUsed(text, line.lineIndex);
  atomicReplace(path, updated);
  return { next: firstValidSequence(updated)?.hits };
}
