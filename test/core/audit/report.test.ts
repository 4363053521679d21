import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuditReader, MAX_LINE, applyFilter, buildReport, clean, formatDuration, formatTime, parseAuditLine,
  parseIpFilter, parseTimeArg, renderTable, type Session,
} from '../../../src/core/audit/report.js';
import { isAppError } from '../../../src/core/errors.js';
import { BAD_LINES, NOW, T0, TEXT, s } from './scripted-session.js';

const byLease = (ss: readonly Session[], lease: string): Session => {
  const x = ss.find((y) => y.lease === lease);
  assert.ok(x, `no session for lease ${lease}`);
  return x;
};

test('parseAuditLine: accepts the schema, rejects what is not a record, never throws', () => {
  const good = parseAuditLine(JSON.stringify({ time: 1, event: 'door.open', door: 'ssh', lease: 7, principal: { kind: 'spa', key: 'k', keyId: 'ab' }, extra: { x: 1 } }));
  assert.deepEqual(good, { time: 1, event: 'door.open', door: 'ssh', lease: '7', principal: { kind: 'spa', key: 'k', keyId: 'ab' } });
  const cases: [string, string][] = [
    ['not json', 'x{'],
    ['array', '[1,2]'],
    ['null', 'null'],
    ['number', '42'],
    ['no time', '{"event":"door.open"}'],
    ['string time', '{"time":"1","event":"door.open"}'],
    ['no event', '{"time":1}'],
    ['event not string', '{"time":1,"event":5}'],
    ['infinite-ish time', '{"time":1e400,"event":"x"}'],
    ['too long', JSON.stringify({ time: 1, event: 'x', pad: 'a'.repeat(MAX_LINE) })],
    ['truncated', '{"time":1,"event":"door.op'],
    ['proto pollution', '{"__proto__":{"time":1},"event":"x"}'],
  ];
  for (const [name, line] of cases) assert.equal(parseAuditLine(line), undefined, name);
  // wrong-typed optional fields are dropped, not trusted
  const odd = parseAuditLine('{"time":2,"event":"door.close","lease":"L","exitCode":"0","principal":{"kind":"root"},"openedAt":null}');
  assert.deepEqual(odd, { time: 2, event: 'door.close', lease: 'L' });
});

test('scripted session: records are joined by lease into sessions', () => {
  const rep = buildReport(TEXT, NOW);
  assert.equal(rep.badLines, 2);
  assert.deepEqual(rep.firstBadLines, [...BAD_LINES]);
  assert.equal(rep.records, 18);
  assert.equal(rep.suppressedRejects, 40);
  assert.equal(rep.rejects.length, 4);

  const alice = byLease(rep.sessions, 'L1');
  assert.equal(alice.status, 'closed');
  assert.deepEqual(alice.principal, { kind: 'spa', key: 'alice', keyId: 'a1a1a1a1a1a1a1a1' });
  assert.equal(alice.openedAt, s(10));
  assert.equal(alice.closedAt, s(65));
  assert.equal(alice.durationMs, 55_000);
  assert.equal(alice.extensions, 1);
  assert.equal(alice.expiresAt, s(65));
  assert.equal(alice.closeReason, 'timeout');

  const bob = byLease(rep.sessions, 'L2');
  assert.equal(bob.src, '203.0.113.9');
  assert.equal(bob.ip, '192.0.2.50');
  assert.equal(bob.grantedTtl, 60);
  assert.equal(bob.requestedTtl, 120);
  assert.equal(bob.durationMs, 60_000);

  assert.equal(byLease(rep.sessions, 'L3').principal?.kind, 'sequence');
  assert.equal(byLease(rep.sessions, 'L3').durationMs, 10_000);

  const overdue = byLease(rep.sessions, 'L6');
  assert.equal(overdue.status, 'overdue');
  assert.equal(overdue.durationMs, NOW - s(150));

  const open = byLease(rep.sessions, 'L5');
  assert.equal(open.status, 'open');
  assert.equal(open.closedAt, undefined);
  assert.equal(open.durationMs, 100_000);

  const failed = byLease(rep.sessions, 'L4');
  assert.equal(failed.status, 'failed');
  assert.equal(failed.exitCode, 2);
  assert.equal(failed.durationMs, undefined);

  // close whose open was rotated out: openedAt comes from the close record
  const erin = byLease(rep.sessions, 'L0');
  assert.equal(erin.openedAt, s(-3600));
  assert.equal(erin.durationMs, 3_605_000);
  assert.equal(erin.closeReason, 'shutdown');

  const once = rep.sessions.filter((x) => x.status === 'once');
  assert.equal(once.length, 1);
  assert.equal(once[0]?.door, 'ping');
  assert.equal(once[0]?.lease, undefined);

  assert.equal(rep.sessions.length, 8);
  // ordered by opening time
  const opened = rep.sessions.map((x) => x.openedAt ?? 0);
  assert.deepEqual(opened, [...opened].sort((a, b) => a - b));
});

test('a start failure after a journalled lease removes nothing else; stop failures are counted', () => {
  const lines = [
    { time: 1, event: 'door.open', door: 'd', lease: 'A', ip: '192.0.2.1', expiresAt: 100 },
    { time: 100, event: 'command.fail', door: 'd', lease: 'A', ip: '192.0.2.1', command: 'stop', exitCode: 1, timedOut: false },
    { time: 110, event: 'command.fail', door: 'd', lease: 'A', ip: '192.0.2.1', command: 'stop', timedOut: true },
    { time: 130, event: 'door.close', door: 'd', lease: 'A', ip: '192.0.2.1', exitCode: 0, reason: 'timeout', openedAt: 1 },
    { time: 140, event: 'door.rearm', door: 'e', lease: 'B', ip: '192.0.2.2', expiresAt: 500 },
  ].map((o) => JSON.stringify(o)).join('\n');
  const rep = buildReport(lines, 200);
  const a = byLease(rep.sessions, 'A');
  assert.equal(a.stopFailures, 2);
  assert.equal(a.status, 'closed');
  const b = byLease(rep.sessions, 'B');
  assert.equal(b.rearms, 1);
  assert.equal(b.status, 'open');
  assert.equal(b.openedAt, undefined);
});

test('incremental push equals pushText; CRLF lines are accepted', () => {
  const r1 = new AuditReader();
  for (const l of TEXT.split('\n')) r1.push(l);
  const r2 = new AuditReader();
  r2.pushText(TEXT.replace(/\n/g, '\r\n'));
  assert.deepEqual(r2.report(NOW), r1.report(NOW));
});

test('filters narrow the scripted session', () => {
  const rep = buildReport(TEXT, NOW);
  const leases = (f: Parameters<typeof applyFilter>[1]) =>
    applyFilter(rep, f, NOW).sessions.map((x) => x.lease ?? `once:${x.door}`).sort();
  const cases: [string, Parameters<typeof applyFilter>[1], string[]][] = [
    ['none', {}, ['L0', 'L1', 'L2', 'L3', 'L4', 'L5', 'L6', 'once:ping']],
    ['key by name', { key: 'alice' }, ['L1']],
    ['key by id, any case', { key: 'B0B0B0B0B0B0B0B0' }, ['L2']],
    ['unknown key', { key: 'mallory' }, []],
    ['door', { door: 'web' }, ['L3', 'L6']],
    ['door is exact', { door: 'WEB' }, []],
    ['ip matches the opened address', { ip: parseIpFilter('192.0.2.50') }, ['L2']],
    ['ip matches the packet source', { ip: parseIpFilter('203.0.113.9') }, ['L2']],
    ['ip cidr v4', { ip: parseIpFilter('192.0.2.0/24') }, ['L2', 'L3', 'L6', 'once:ping']],
    ['ip cidr v6', { ip: parseIpFilter('2001:db8::/32') }, ['L4', 'L5']],
    ['since: open at or after +100s (overlap)', { since: s(100) }, ['L2', 'L3', 'L4', 'L5', 'L6']],
    ['until: open before +60s', { until: s(60) }, ['L0', 'L1', 'once:ping']],
    ['window +60s..+101s', { since: s(60), until: s(101) }, ['L1', 'L2', 'L3']],
    ['combined', { door: 'ssh', since: s(66) }, ['L2', 'L5']],
  ];
  for (const [name, f, want] of cases) assert.deepEqual(leases(f), want, name);
  // rejects are filtered too
  assert.equal(applyFilter(rep, { ip: parseIpFilter('192.0.2.200') }, NOW).rejects.length, 3);
  assert.equal(applyFilter(rep, { key: 'alice' }, NOW).rejects.length, 1);
  assert.equal(applyFilter(rep, { since: s(71) }, NOW).rejects.length, 2);
});

test('parseTimeArg: relative and ISO forms; everything else is a usage error', () => {
  const now = T0;
  const ok: [string, number][] = [
    ['2h', now - 7_200_000],
    ['30m', now - 1_800_000],
    ['45s', now - 45_000],
    ['7d', now - 7 * 86_400_000],
    ['1w', now - 604_800_000],
    ['now', now],
    ['2024-05-01', Date.UTC(2024, 4, 1)],
    ['2024-05-01T12:00:00Z', T0],
    ['2024-05-01T12:00', T0],
    ['2024-05-01 12:00:00.250', T0 + 250],
    ['2024-05-01T14:00:00+02:00', T0],
    ['2024-05-01T07:00:00-0500', T0],
    ['2024-02-29', Date.UTC(2024, 1, 29)],
  ];
  for (const [text, want] of ok) assert.equal(parseTimeArg(text, now, '--since'), want, text);
  const bad = ['', 'yesterday', '2h30m', '-2h', '2x', '2023-02-29', '2024-02-31', '2024-13-01', '2024-05-01T24:00', '2024-05-01T12:00:00+25:00', '1714564800000', '0024-05-01x'];
  for (const text of bad) {
    assert.throws(() => parseTimeArg(text, now, '--until'), (e: unknown) => isAppError(e) && e.code === 'ERR_USAGE' && e.message.startsWith('--until'), text);
  }
});

test('parseIpFilter: addresses and CIDRs; junk is a usage error', () => {
  assert.equal(parseIpFilter('192.0.2.7').prefix, 32);
  assert.equal(parseIpFilter('2001:DB8::/32').text, '2001:db8::/32');
  for (const bad of ['192.0.2.7/33', '192.0.2.1/24', 'host.example', '01.2.3.4', '']) {
    assert.throws(() => parseIpFilter(bad), (e: unknown) => isAppError(e) && e.code === 'ERR_USAGE', bad);
  }
});

test('rendering helpers: escapes are neutralised, times are UTC, durations compact', () => {
  assert.equal(clean('ssh\u001b[31mRED\u0007'), 'ssh\\x1b[31mRED\\x07');
  assert.equal(clean('a\u202eb'), 'a\\u202eb');
  assert.equal(clean('x'.repeat(100), 10), 'xxxxxxxxx…');
  assert.equal(formatTime(T0 + 3000), '2024-05-01 12:00:03Z');
  assert.equal(formatTime(Number.NaN), '?');
  const d: [number, string][] = [[0, '0s'], [59_999, '59s'], [60_000, '1m00s'], [725_000, '12m05s'], [3_600_000, '1h00m'], [90_061_000, '1d01h'], [-5, '0s']];
  for (const [ms, want] of d) assert.equal(formatDuration(ms), want, String(ms));
  const t = renderTable(['A', 'BB', 'C'], [['xxx', 'y', 'last cell'], ['', 'zzzz', '']]).split('\n');
  assert.deepEqual(t, ['A    BB    C', 'xxx  y     last cell', '     zzzz', '']);
});

test('a lease superseded by a re-open (its stop failed) ends there instead of showing overdue forever', () => {
  const p = { kind: 'spa', key: 'alice', keyId: 'a1a1a1a1a1a1a1a1' };
  const lines = [
    { time: T0, event: 'door.open', door: 'ssh', lease: 'A', principal: p, src: '192.0.2.7', ip: '192.0.2.7', expiresAt: T0 + 10_000, grantedTtl: 10, exitCode: 0 },
    { time: T0 + 10_000, event: 'command.fail', door: 'ssh', lease: 'A', principal: p, src: '192.0.2.7', ip: '192.0.2.7', command: 'stop', exitCode: 1, timedOut: false },
    { time: T0 + 12_000, event: 'door.open', door: 'ssh', lease: 'B', principal: p, src: '192.0.2.7', ip: '192.0.2.7', expiresAt: T0 + 22_000, grantedTtl: 10, exitCode: 0, reopened: true, supersedes: 'A' },
  ].map((x) => JSON.stringify(x)).join('\n');
  const rep = buildReport(lines, T0 + 60_000);
  const a = byLease(rep.sessions, 'A');
  assert.equal(a.status, 'closed');
  assert.equal(a.closeReason, 'superseded');
  assert.equal(a.closedAt, T0 + 12_000);
  assert.equal(byLease(rep.sessions, 'B').status, 'overdue');
});

test('nft set doors: a refused open is a failed session; a refused delete on an open session counts as a stop failure', () => {
  const p = { kind: 'spa', key: 'alice', keyId: 'a1a1a1a1a1a1a1a1' };
  const base = { door: 'ssh', src: '10.0.0.2', ip: '10.0.0.2', principal: p, set: 'inet knockd ssh4' };
  const text = [
    { time: 1000, event: 'command.fail', ...base, lease: 'N1', command: 'nft', timedOut: false, error: 'Error: No such file or directory' },
    { time: 2000, event: 'door.open', ...base, lease: 'N2', ports: '22:tcp', grantedTtl: 30, expiresAt: 32_000, exitCode: 0 },
    { time: 3000, event: 'command.fail', ...base, lease: 'N2', command: 'nft', timedOut: false, error: 'nft is not running', attempt: 1, retryAt: 4000 },
    { time: 4000, event: 'door.close', ...base, lease: 'N2', reason: 'revoked', openedAt: 2000, attempts: 2 },
  ].map((r) => JSON.stringify(r)).join('\n') + '\n';
  const rep = buildReport(text, 10_000);
  assert.equal(byLease(rep.sessions, 'N1').status, 'failed');
  const n2 = byLease(rep.sessions, 'N2');
  assert.deepEqual([n2.status, n2.stopFailures, n2.closeReason], ['closed', 1, 'revoked']);
});
