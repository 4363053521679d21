/**
 * Structured operational logs (pino, JSON lines on stderr by default). These are for the
 * operator's log pipeline; knockd-compatible text logs live in knockd-log.ts and the
 * decision trail in audit-log.ts.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

export interface LoggerOptions {
  /** pino level; default 'info'. */
  level?: pino.LevelWithSilentOrString;
  /** Destination stream (tests); default: stderr (fd 2, synchronous). */
  destination?: pino.DestinationStream;
  /** Component name bound to every line. */
  name?: string;
}

export function createLogger(o: LoggerOptions = {}): Logger {
  const dest = o.destination ?? pino.destination({ dest: 2, sync: true });
  return pino({
    level: o.level ?? 'info',
    base: { pid: process.pid },
    ...(o.name ? { name: o.name } : {}),
  }, dest);
}

/** A logger that discards everything (tests, --check). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
