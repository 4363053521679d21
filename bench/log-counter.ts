/**
 * Counts the "Stage 1" lines a daemon wrote to its knockd-format LogFile between two byte
 * offsets. Both knockd 0.8 and ours log "<src>: <door>: Stage 1" once for every first-port hit
 * that reached the sequence matcher, so in a spoofed-source flood (every source new) the count
 * is the number of captured frames that made it to the daemon's user-space matcher. The log
 * stays a regular file, as in production; it is read in 1 MiB chunks (a flood writes
 * millions of lines), keeping at most one partial line.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

const NEEDLE = ': Stage 1';

export class StageCounter {
  stage1 = 0;
  lines = 0;
  /** Lines containing `collect` (at most 5,000), e.g. everything about the legitimate client. */
  readonly collected: string[] = [];
  private carry = '';
  private readonly collect: string | undefined;
  constructor(collect?: string) { this.collect = collect; }

  push(chunk: string): void {
    const text = this.carry + chunk;
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      this.lines++;
      // "Stage 1" must end the line ("Stage 10" is a later stage)
      if (nl - start >= NEEDLE.length && text.startsWith(NEEDLE, nl - NEEDLE.length)) this.stage1++;
      start = nl + 1;
    }
    // lines (complete ones: before `start`) mentioning `collect`: one forward scan per chunk
    const c = this.collect;
    if (c !== undefined) {
      for (let at = text.indexOf(c); at >= 0 && at < start && this.collected.length < 5000;) {
        const ls = text.lastIndexOf('\n', at) + 1, le = text.indexOf('\n', at);
        this.collected.push(text.slice(ls, le));
        at = text.indexOf(c, le + 1);
      }
    }
    this.carry = text.slice(start).slice(-65536);
  }
}

/** Current size of the log (the offset to count from); 0 when it does not exist yet. */
export function logSize(file: string): number {
  try { return statSync(file).size; } catch { return 0; }
}

/** Stage-1 lines in bytes [from, to) of `file` (to = end of file), and the lines containing `collect`. */
export function countStage1(file: string, from: number, collect?: string, to = Infinity): { stage1: number; collected: string[] } {
  const c = new StageCounter(collect);
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (let pos = from; pos < to;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos);
      if (n <= 0) break;
      c.push(buf.toString('latin1', 0, n));
      pos += n;
    }
  } finally { closeSync(fd); }
  return { stage1: c.stage1, collected: c.collected };
}
