/**
 * One long-lived `nft -j -i` process fed over a pipe (used by src/io/nft.ts; not for direct use).
 *
 * What nft 1.0.6 does in interactive mode, measured here (test/io/nft.test.ts with a fake,
 * test/e2e/nft-channel.test.ts with the real one):
 * - it reads one line at a time; one line is one transaction (commands joined by ';' are applied
 *   all or nothing, also when the kernel refuses the last of them);
 * - it prints nothing on success; `list` prints one line of JSON (-j); an error prints
 *   `Error: ...`, the offending line and a caret line; stderr is merged into stdout
 *   (`2>&1`), and nft flushes stdout, so all of a line's output precedes the next line's;
 * - it keeps every line in an in-memory history (libedit) that it searches on each line: a
 *   line's cost grows with the number of lines read (0.2 ms at 1,000 lines, 2 ms at 20,000),
 *   so src/io/nft.ts replaces the process every `recycleAfter` batches; with HOME=/dev/null
 *   it can neither read nor write a history file.
 *
 * Acknowledgement: after each batch line we send a marker line, `knockd_ack_<nonce>_<seq>`,
 * which nft refuses as a syntax error without touching the kernel, echoing it on a line of its
 * own. Everything printed between the previous marker and this one belongs to this batch; the
 * marker's own `Error:` line (just before the echo) and caret line (just after) are removed.
 * A batch line never equals a marker (it starts with a command word; markers carry a random nonce).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { AppError } from '../core/errors.js';

export type ChildAnswer =
  | { ok: true; lines: string[]; truncated: boolean }
  | { ok: false; lost: true; reason: string };

interface Pending {
  marker: string;
  deadline: number;
  maxBytes: number;
  bytes: number;
  truncated: boolean;
  lines: string[];
  resolve: (a: ChildAnswer) => void;
}

const CARET = /^[ \t~^]*\^[ \t~^]*$/;

export class NftChild {
  readonly #proc: ChildProcess;
  readonly #nonce = randomBytes(6).toString('hex');
  readonly #pending: Pending[] = [];
  readonly #ackTimeoutMs: number;
  readonly #maxLineBytes: number;
  #seq = 0;
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #overflow = false;
  #expectCaret = false;
  #timer: NodeJS.Timeout | undefined;
  #exited = false;
  #exitReason = '';
  /** Output of the last lines when nothing was waiting (start-up errors, for messages). */
  #stray: string[] = [];
  readonly exited: Promise<string>;

  /** `argv`: the nft command (e.g. ['/usr/sbin/nft'] or ['ip', 'netns', 'exec', NS, 'nft']). */
  constructor(argv: readonly string[], opts: { ackTimeoutMs: number; maxLineBytes: number; env?: Readonly<Record<string, string>> }) {
    this.#ackTimeoutMs = opts.ackTimeoutMs;
    this.#maxLineBytes = opts.maxLineBytes;
    this.#proc = spawn('/bin/sh', ['-c', 'exec "$@" -j -i 2>&1', 'sh', ...argv], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { ...process.env, ...opts.env, HOME: '/dev/null', LC_ALL: 'C' },
    });
    this.exited = new Promise((resolve) => {
      const done = (why: string): void => {
        if (this.#exited) return;
        this.#exited = true;
        this.#exitReason = why;
        if (this.#timer) clearTimeout(this.#timer);
        const said = (extra: readonly string[]): string => {
          const text = [...this.#stray, ...extra].join(' | ').slice(0, 500);
          return text ? `${why}: ${text}` : why;
        };
        for (const p of this.#pending.splice(0)) p.resolve({ ok: false, lost: true, reason: said(p.lines) });
        resolve(said([]));
      };
      this.#proc.on('error', (e) => done(`nft could not be started: ${e.message}`));
      this.#proc.on('exit', (code, sig) => done(this.#exitReason || `nft exited (${sig ?? `status ${code}`})`));
    });
    this.#proc.stdin?.on('error', () => { /* EPIPE: the exit handler reports it */ });
    this.#proc.stdout?.on('data', (d: Buffer) => this.#data(d));
  }

  get pid(): number | undefined { return this.#proc.pid; }
  get alive(): boolean { return !this.#exited; }
  get inFlight(): number { return this.#pending.length; }
  /** Batches sent so far (history lines = 2 per batch). */
  get sent(): number { return this.#seq; }

  /** Send one batch line (or only a marker when `line` is undefined) and wait for its output. */
  send(line: string | undefined, maxBytes: number): Promise<ChildAnswer> {
    if (this.#exited) return Promise.resolve({ ok: false, lost: true, reason: this.#exitReason || 'nft is not running' });
    const marker = `knockd_ack_${this.#nonce}_${++this.#seq}`;
    return new Promise((resolve) => {
      this.#pending.push({ marker, deadline: Date.now() + this.#ackTimeoutMs, maxBytes, bytes: 0, truncated: false, lines: [], resolve });
      this.#proc.stdin?.write(line === undefined ? `${marker}\n` : `${line}\n${marker}\n`);
      this.#arm();
    });
  }

  /** Close nft's input (it exits at end of input); SIGKILL if it is still there after `graceMs`. */
  async end(graceMs = 2000): Promise<void> {
    if (this.#exited) return;
    this.#proc.stdin?.end();
    const t = setTimeout(() => this.kill('nft did not exit at end of input'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  kill(reason: string): void {
    if (this.#exited) return;
    this.#exitReason ||= reason;
    try { this.#proc.kill('SIGKILL'); } catch { /* gone */ }
  }

  #arm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const head = this.#pending[0];
    if (!head || this.#exited) return;
    this.#timer = setTimeout(() => this.kill(`no answer from nft within ${this.#ackTimeoutMs} ms`), Math.max(0, head.deadline - Date.now()));
    this.#timer.unref();
  }

  #data(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      const piece = chunk.subarray(start, nl < 0 ? chunk.length : nl);
      if (this.#partialBytes + piece.length > this.#maxLineBytes) this.#overflow = true;
      else if (piece.length) this.#partial.push(piece);
      this.#partialBytes += piece.length;
      if (nl < 0) return;
      const text = Buffer.concat(this.#partial).toString('utf8');
      const overflow = this.#overflow;
      this.#partial = [];
      this.#partialBytes = 0;
      this.#overflow = false;
      this.#line(text, overflow);
      start = nl + 1;
    }
  }

  #line(text: string, overflow: boolean): void {
    if (this.#expectCaret) {
      this.#expectCaret = false;
      if (CARET.test(text)) return;
    }
    const head = this.#pending[0];
    if (!head) {
      this.#stray.push(text.slice(0, 200));
      if (this.#stray.length > 5) this.#stray.shift();
      return;
    }
    if (!overflow && text === head.marker) {
      this.#pending.shift();
      if (head.lines.length && head.lines[head.lines.length - 1]?.startsWith('Error:')) head.lines.pop();
      this.#expectCaret = true;
      this.#arm();
      head.resolve({ ok: true, lines: head.lines, truncated: head.truncated });
      return;
    }
    head.bytes += text.length + 1;
    if (overflow || head.bytes > head.maxBytes) head.truncated = true;
    else head.lines.push(text);
  }
}

/** The nft command with its first word resolved in PATH; AppError('ERR_NFT') when it is not there. */
export function resolveCommand(cmd: readonly string[]): string[] {
  const [first, ...rest] = cmd;
  if (!first) throw new AppError('ERR_NFT', 'empty nft command');
  const ok = (p: string): boolean => { try { accessSync(p, constants.X_OK); return true; } catch { return false; } };
  if (first.includes('/')) {
    if (!ok(first)) throw new AppError('ERR_NFT', `${first}: not an executable file (install nftables)`);
    return [first, ...rest];
  }
  const path = process.env['PATH'] ?? '';
  for (const dir of path.split(delimiter)) {
    if (dir && ok(join(dir, first))) return [join(dir, first), ...rest];
  }
  throw new AppError('ERR_NFT', `${first} not found in PATH (${path}); install nftables`);
}

/**
 * A marker alone: nft must answer it with nothing but the marker's own error. Anything else
 * (a prompt, a banner) would be read as the output of every batch, so such an nft is refused.
 */
export async function handshake(c: NftChild): Promise<{ ok: true } | { ok: false; reason: string }> {
  const a = await c.send(undefined, 64 * 1024);
  if (!a.ok) return a;
  const extra = a.lines.filter((l) => l.trim() !== '');
  if (extra.length === 0) return { ok: true };
  c.kill('unexpected output');
  return { ok: false, reason: `unexpected output from nft: ${JSON.stringify(extra.join(' | ').slice(0, 200))}` };
}
