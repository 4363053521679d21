/**
 * knockd-format log output (knockd-behaviour.md §4.3): the same message texts to
 *  - LogFile: "[YYYY-MM-DD HH:MM] msg\n", local time, minute resolution, written immediately
 *    (knockd's extra blank lines after some messages are not reproduced: one line per record);
 *  - syslog (UseSyslog): ident "knockd", LOG_USER, LOG_NOTICE, through ONE long-lived
 *    `logger -t knockd -p user.notice` child fed one line per message on stdin
 *    (Node has no syslog API);
 *  - stdout with -v.
 */
import * as fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';

export interface KnockdLog {
  line(msg: string): void;
  /** Close and reopen the log file (SIGHUP); undefined = no log file any more. */
  reopen(logFile: string | undefined): void;
  close(): Promise<void>;
}

export interface KnockdLogOptions {
  logFile?: string;
  useSyslog: boolean;
  verbose: boolean;
  stdout?: (s: string) => void;
  now?: () => Date;
  /** argv of the syslog forwarder (tests); default ['logger', '-t', 'knockd', '-p', 'user.notice']. */
  syslogCommand?: readonly string[];
  /** Where problems with the log destinations are reported (default: process.stderr). */
  onError?: (msg: string) => void;
}

/** knockd formats into a 1024-byte buffer: longer messages are cut at 1023 bytes. */
export const MAX_MESSAGE_BYTES = 1023;

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

export function formatStamp(d: Date): string {
  return `[${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}]`;
}

/** One physical line: control characters (CR, LF, …) become spaces, at most 1023 bytes. */
export function sanitizeMessage(msg: string): string {
  // eslint-disable-next-line no-control-regex
  let s = msg.replace(/[\u0000-\u001f\u007f]/g, ' ');
  if (Buffer.byteLength(s) > MAX_MESSAGE_BYTES) {
    s = Buffer.from(s).subarray(0, MAX_MESSAGE_BYTES).toString('utf8').replace(/\uFFFD+$/, '');
  }
  return s;
}

function openAppend(path: string): number {
  return fs.openSync(path, 'a', 0o640);
}

export function createKnockdLog(o: KnockdLogOptions): KnockdLog {
  const now = o.now ?? (() => new Date());
  const stdout = o.stdout ?? ((s: string) => { process.stdout.write(s); });
  const onError = o.onError ?? ((m: string) => { process.stderr.write(`knockd: ${m}\n`); });
  let fd: number | undefined;
  let fileName: string | undefined;
  let syslog: ChildProcess | undefined;
  let syslogDead = false;
  let closed = false;

  const openFile = (path: string | undefined): void => {
    fileName = path;
    if (path === undefined) return;
    try { fd = openAppend(path); } catch (e) {
      fd = undefined;
      onError(`could not open log file ${path}: ${(e as Error).message}`);
    }
  };

  const startSyslog = (): void => {
    const argv = o.syslogCommand ?? ['logger', '-t', 'knockd', '-p', 'user.notice'];
    const [cmd, ...args] = argv;
    if (!cmd) return;
    try {
      const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'ignore'] });
      child.on('error', (e) => { syslogDead = true; onError(`syslog forwarder ${cmd}: ${e.message}`); });
      child.on('exit', () => { if (syslog === child) syslog = undefined; });
      child.stdin?.on('error', () => { syslogDead = true; });
      child.unref();
      (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      syslog = child;
    } catch (e) {
      syslogDead = true;
      onError(`syslog forwarder ${cmd}: ${(e as Error).message}`);
    }
  };

  openFile(o.logFile);
  if (o.useSyslog) startSyslog();

  return {
    line(msg: string): void {
      if (closed) return;
      const m = sanitizeMessage(msg);
      if (o.verbose) stdout(`${m}\n`);
      if (fd !== undefined) {
        try { fs.writeSync(fd, `${formatStamp(now())} ${m}\n`); } catch (e) {
          onError(`could not write log file ${fileName ?? ''}: ${(e as Error).message}`);
        }
      }
      if (o.useSyslog) {
        if (!syslog && !syslogDead) startSyslog();
        if (syslog && !syslogDead && syslog.stdin && !syslog.stdin.destroyed) syslog.stdin.write(`${m}\n`);
      }
    },
    reopen(logFile: string | undefined): void {
      if (closed) return;
      if (fd !== undefined) { try { fs.closeSync(fd); } catch { /* ignore */ } fd = undefined; }
      openFile(logFile);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (fd !== undefined) { try { fs.closeSync(fd); } catch { /* ignore */ } fd = undefined; }
      const child = syslog;
      syslog = undefined;
      if (child && child.exitCode === null && child.signalCode === null) {
        child.ref();   // keep the loop alive until the forwarder has flushed and exited
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => { try { child.kill(); } catch { /* ignore */ } resolve(); }, 2000);
          child.once('exit', () => { clearTimeout(t); resolve(); });
          child.stdin?.end();
        });
      }
    },
  };
}
