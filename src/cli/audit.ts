/**
 * `knockd audit`: who opened which door, from where, when, for how long, and when it closed.
 * Reads the audit log (JSON lines, docs/ARCHITECTURE.md) line by line; the joining,
 * filtering and rendering are pure (core/audit/report.ts).
 *
 *   knockd audit [--since T] [--until T] [--key K] [--door D] [--ip ADDR|CIDR] [--json] [--file F]
 *
 * Exit status: 0 (also when nothing matches), 64 bad arguments, 1 the log cannot be read.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, CommanderError } from 'commander';
import { AppError, exitCodeFor, isAppError } from '../core/errors.js';
import {
  AuditReader, applyFilter, parseIpFilter, parseTimeArg, renderReport, reportJson, type AuditFilter,
} from '../core/audit/report.js';

export interface AuditIo {
  auditLog: string;
  out: (s: string) => void;
  err: (s: string) => void;
  now: () => number;
}

interface AuditOpts {
  since?: string; until?: string; key?: string; door?: string; ip?: string; json?: boolean; file?: string;
}

/** Streams the file into an AuditReader; never holds the whole log in memory. */
export async function readAuditFile(path: string, reader: AuditReader): Promise<void> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new AppError('ERR_STATE', `audit log ${path}: cannot read (${code ?? (e as Error).message})`, { cause: e });
  }
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) reader.push(line);
  } catch (e) {
    throw new AppError('ERR_STATE', `audit log ${path}: read failed: ${(e as Error).message}`, { cause: e });
  }
}

export async function auditMain(argv: string[], o: AuditIo): Promise<number> {
  const cmd = new Command('knockd audit')
    .description('who opened which door, from where, when, for how long, and when it closed')
    .option('--since <time>', 'only what was open at or after this time (ISO date/time, or 30m, 2h, 7d, 1w ago)')
    .option('--until <time>', 'only what was open before this time (same forms)')
    .option('--key <name|keyid>', 'only SPA openings by this key (name or 16-hex key id)')
    .option('--door <name>', 'only this door (section name)')
    .option('--ip <addr|cidr>', 'only openings for or from this address or network')
    .option('--json', 'machine-readable output (times in ms since the epoch)')
    .option('--file <path>', `read this audit log instead of ${o.auditLog}`)
    .addHelpText('after', '\nTimes are shown and, without an explicit offset, parsed as UTC.')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: o.out, writeErr: o.err });
  try {
    cmd.parse(argv, { from: 'user' });
    const opts = cmd.opts<AuditOpts>();
    const now = o.now();
    const filter: AuditFilter = {
      ...(opts.since !== undefined ? { since: parseTimeArg(opts.since, now, '--since') } : {}),
      ...(opts.until !== undefined ? { until: parseTimeArg(opts.until, now, '--until') } : {}),
      ...(opts.key !== undefined ? { key: opts.key } : {}),
      ...(opts.door !== undefined ? { door: opts.door } : {}),
      ...(opts.ip !== undefined ? { ip: parseIpFilter(opts.ip) } : {}),
    };
    if (filter.since !== undefined && filter.until !== undefined && filter.since >= filter.until) {
      throw new AppError('ERR_USAGE', `--since ${opts.since} is not before --until ${opts.until}`);
    }
    const reader = new AuditReader();
    await readAuditFile(opts.file ?? o.auditLog, reader);
    const rep = applyFilter(reader.report(now), filter, now);
    o.out(opts.json ? reportJson(rep) : renderReport(rep));
    if (rep.badLines > 0 && opts.json) {
      o.err(`knockd audit: skipped ${rep.badLines} unreadable line(s) (first at line ${rep.firstBadLines.join(', ')})\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help / --version print and exit 0; everything else is a usage error (already printed)
      return e.exitCode === 0 ? 0 : exitCodeFor('ERR_USAGE');
    }
    if (isAppError(e)) {
      o.err(`knockd audit: ${e.message} [${e.code}]\n`);
      return exitCodeFor(e.code);
    }
    throw e;
  }
}
