import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditMain } from '../../src/cli/audit.js';
import { SESSION_COLUMNS } from '../../src/core/audit/report.js';
import { NOW, TEXT, s } from '../core/audit/scripted-session.js';

interface Run { code: number; out: string; err: string }

async function run(argv: string[], auditLog: string): Promise<Run> {
  let out = '', err = '';
  const code = await auditMain(argv, { auditLog, out: (x) => { out += x; }, err: (x) => { err += x; }, now: () => NOW });
  return { code, out, err };
}

/** Splits a fixed-column table into records keyed by header, using the header's column offsets. */
function parseTable(text: string): Record<string, string>[] {
  const lines = text.split('\n');
  const header = lines[0] ?? '';
  const cols: { name: string; start: number }[] = [];
  for (const m of header.matchAll(/\S+/g)) cols.push({ name: m[0], start: m.index ?? 0 });
  const rows: Record<string, string>[] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') break; // the sessions table ends at the first blank line
    const r: Record<string, string> = {};
    cols.forEach((c, i) => {
      const end = i + 1 < cols.length ? (cols[i + 1] as { start: number }).start : line.length;
      r[c.name] = line.slice(c.start, end).trim();
    });
    rows.push(r);
  }
  return rows;
}

function withLog(fn: (file: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h7-audit-'));
    try {
      const file = join(dir, 'audit.log');
      writeFileSync(file, TEXT);
      await fn(file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('knockd audit --json: the scripted multi-user session comes back as sessions', withLog(async (file) => {
  const r = await run(['--json'], file);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as { sessions: Record<string, unknown>[]; rejects: unknown[]; badLines: number; records: number; suppressedRejects: number };
  assert.equal(doc.badLines, 2);
  assert.match(r.err, /skipped 2 unreadable line\(s\) \(first at line 4, 12\)/);
  assert.equal(doc.records, 18);
  assert.equal(doc.rejects.length, 4);
  assert.equal(doc.suppressedRejects, 40);
  const who = doc.sessions.map((x) => {
    const p = x['principal'] as { kind: string; key?: string } | undefined;
    return [p?.kind === 'spa' ? p.key : p?.kind, x['door'], x['status']];
  });
  assert.deepEqual(who, [
    ['erin', 'ssh', 'closed'],
    ['alice', 'ssh', 'closed'],
    ['sequence', 'ping', 'once'],
    ['bob', 'ssh', 'closed'],
    ['sequence', 'web', 'closed'],
    ['sequence', 'web', 'overdue'],
    ['carol', 'db', 'failed'],
    ['dave', 'ssh', 'open'],
  ]);
  const alice = doc.sessions[1] as Record<string, unknown>;
  assert.equal(alice['openedAt'], s(10));
  assert.equal(alice['closedAt'], s(65));
  assert.equal(alice['durationMs'], 55_000);
  assert.equal(alice['extensions'], 1);
}));

test('knockd audit: the table has one row per opening with door, source, opened, duration, closed', withLog(async (file) => {
  const r = await run([], file);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.out.split('\n')[0]?.split(/\s+/), [...SESSION_COLUMNS]);
  const rows = parseTable(r.out);
  assert.equal(rows.length, 8);
  const row = (principal: string, door: string) => {
    const x = rows.filter((y) => y['PRINCIPAL'] === principal && y['DOOR'] === door);
    assert.equal(x.length >= 1, true, `no row for ${principal} ${door}`);
    return x[0] as Record<string, string>;
  };
  assert.deepEqual(row('alice', 'ssh'), {
    OPENED: '2024-05-01 12:00:10Z', DOOR: 'ssh', PRINCIPAL: 'alice', FROM: '198.51.100.7', ADDRESS: '198.51.100.7',
    DURATION: '55s', CLOSED: '2024-05-01 12:01:05Z', RESULT: 'closed:timeout, extended x1',
  });
  assert.deepEqual(row('bob', 'ssh'), {
    OPENED: '2024-05-01 12:01:00Z', DOOR: 'ssh', PRINCIPAL: 'bob', FROM: '203.0.113.9', ADDRESS: '192.0.2.50',
    DURATION: '1m00s', CLOSED: '2024-05-01 12:02:00Z', RESULT: 'closed:timeout',
  });
  assert.deepEqual(row('(sequence)', 'web'), {
    OPENED: '2024-05-01 12:01:40Z', DOOR: 'web', PRINCIPAL: '(sequence)', FROM: '192.0.2.77', ADDRESS: '192.0.2.77',
    DURATION: '10s', CLOSED: '2024-05-01 12:01:50Z', RESULT: 'closed:timeout',
  });
  assert.equal(row('carol', 'db')['RESULT'], 'start-failed:exit=2');
  assert.equal(row('carol', 'db')['DURATION'], '-');
  assert.equal(row('dave', 'ssh')['DURATION'], '1m40s+');
  assert.equal(row('dave', 'ssh')['CLOSED'], '-');
  assert.equal(row('dave', 'ssh')['FROM'], '2001:db8::7');
  assert.equal(row('erin', 'ssh')['DURATION'], '1h00m');
  assert.match(r.out, /rejected knocks: 4\n/);
  assert.match(r.out, /\n40 further rejected knock\(s\) were rate-capped/);
  assert.match(r.out, /skipped 2 unreadable line\(s\)/);
}));

test('knockd audit: each filter narrows the output', withLog(async (file) => {
  const keys = async (argv: string[]) => {
    const r = await run([...argv, '--json'], file);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { sessions: { lease?: string; door: string }[] };
    return doc.sessions.map((x) => x.lease ?? `once:${x.door}`).sort();
  };
  const all = await keys([]);
  assert.equal(all.length, 8);
  const cases: [string[], string[]][] = [
    [['--key', 'alice'], ['L1']],
    [['--key', 'd4d4d4d4d4d4d4d4'], ['L5']],
    [['--door', 'web'], ['L3', 'L6']],
    [['--ip', '192.0.2.50'], ['L2']],
    [['--ip', '2001:db8::/64'], ['L4', 'L5']],
    [['--since', '2024-05-01T12:05:00Z'], ['L5', 'L6']],   // +300s: still open / overdue
    [['--since', '5m'], ['L2', 'L3', 'L4', 'L5', 'L6']],    // NOW - 5m = T0 + 100s
    [['--until', '2024-05-01T12:00:30Z'], ['L0', 'L1']],
    [['--since', '2024-05-01T12:01:00Z', '--until', '2024-05-01T12:01:41Z', '--door', 'ssh'], ['L1', 'L2']],
  ];
  for (const [argv, want] of cases) {
    const got = await keys(argv);
    assert.deepEqual(got, want, argv.join(' '));
    assert.ok(got.length < all.length, `${argv.join(' ')} narrows`);
  }
  assert.equal(NOW - 300_000, s(100));
}));

test('knockd audit: bad arguments and a missing log are reported with exit codes', withLog(async (file) => {
  const cases: [string[], number, RegExp][] = [
    [['--since', 'yesterday'], 64, /--since "yesterday": expected a duration \(30s, 15m, 2h, 7d, 1w\) or an ISO date/],
    [['--until', '2024-02-31'], 64, /--until/],
    [['--ip', 'gw.example'], 64, /--ip "gw.example"/],
    [['--since', '1h', '--until', '2h'], 64, /is not before --until/],
    [['--bogus'], 64, /unknown option/],
    [['extra'], 64, /too many arguments|unexpected/],
    [['--file', join(file, '..', 'missing.log')], 1, /audit log .*missing\.log: cannot read \(ENOENT\)/],
  ];
  for (const [argv, code, msg] of cases) {
    const r = await run(argv, file);
    assert.equal(r.code, code, argv.join(' '));
    assert.match(r.err, msg, argv.join(' '));
    assert.equal(r.out, '', argv.join(' '));
  }
  const h = await run(['--help'], file);
  assert.equal(h.code, 0);
  assert.match(h.out, /--since <time>/);
}));

test('knockd audit: an empty log and a log of garbage give an empty report, not an error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'h7-audit-'));
  try {
    const file = join(dir, 'audit.log');
    writeFileSync(file, '');
    const r = await run([], file);
    assert.equal(r.code, 0);
    assert.equal(r.out, 'no door openings match\n');
    writeFileSync(file, '\u0000\u0001garbage\n{"time":1}\n' + 'x'.repeat(200_000) + '\n');
    const j = await run(['--json'], file);
    assert.equal(j.code, 0);
    const doc = JSON.parse(j.out) as { sessions: unknown[]; badLines: number };
    assert.equal(doc.sessions.length, 0);
    assert.equal(doc.badLines, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('round trip: records written by io/audit-log.ts are read back by knockd audit', async () => {
  const { createAuditLog } = await import('../../src/io/audit-log.js');
  const dir = mkdtempSync(join(tmpdir(), 'h7-audit-'));
  try {
    const file = join(dir, 'audit.log');
    let clock = s(0);
    const log = createAuditLog(file, { now: () => clock });
    const alice = { kind: 'spa', key: 'alice', keyId: 'a1a1a1a1a1a1a1a1' } as const;
    log.record({ event: 'door.open', door: 'ssh', src: '198.51.100.7', principal: alice, ip: '198.51.100.7', lease: 'R1', ports: 'tcp/22', grantedTtl: 30, expiresAt: s(30), exitCode: 0 });
    clock = s(20);
    log.record({ event: 'door.extend', door: 'ssh', src: '198.51.100.7', principal: alice, ip: '198.51.100.7', lease: 'R1', grantedTtl: 30, expiresAt: s(50) });
    clock = s(50);
    log.record({ event: 'door.close', door: 'ssh', src: '198.51.100.7', principal: alice, ip: '198.51.100.7', lease: 'R1', exitCode: 0, reason: 'timeout', openedAt: s(0) });
    log.record({ event: 'knock.reject', src: '192.0.2.9', reason: 'bad-mac' });
    await log.close();
    const r = await run(['--json'], file);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { sessions: Record<string, unknown>[]; rejects: unknown[]; badLines: number };
    assert.equal(doc.badLines, 0);
    assert.equal(doc.rejects.length, 1);
    assert.equal(doc.sessions.length, 1);
    const x = doc.sessions[0] as Record<string, unknown>;
    assert.deepEqual([x['lease'], x['status'], x['openedAt'], x['closedAt'], x['durationMs'], x['extensions']], ['R1', 'closed', s(0), s(50), 50_000, 1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
