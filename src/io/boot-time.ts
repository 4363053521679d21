/**
 * When this machine last booted, ms since the epoch (`btime` in /proc/stat, 1 s resolution);
 * undefined where /proc is not available. Used as the SPA "not before" time: the replay log is
 * written (not fsync'd) before a door opens, which survives a daemon crash (page cache) but not
 * an OS crash, so requests signed before the current boot are refused as stale.
 */
import { readFileSync } from 'node:fs';

export function bootTimeMs(statFile = '/proc/stat'): number | undefined {
  let text: string;
  try { text = readFileSync(statFile, 'latin1'); } catch { return undefined; }
  const m = /^btime (\d{1,12})$/m.exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]) * 1000;
}
