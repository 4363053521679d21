import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSeconds, parseDuration, parseInstant, parseWhen } from '../../src/core/time-text.js';

const NOW = Date.UTC(2026, 10, 30, 12);

test('parseDuration: s m h d w; nothing else', () => {
  const ok: [string, number][] = [['30s', 30_000], ['15m', 900_000], ['1h', 3_600_000], ['7d', 604_800_000], ['1w', 604_800_000], ['0s', 0]];
  for (const [t, ms] of ok) assert.equal(parseDuration(t), ms, t);
  for (const t of ['', '1', '1y', '1.5h', '-1h', '1h30m', 'h', '1 h', '10000000000s']) assert.equal(parseDuration(t), undefined, t);
});

test('parseInstant: ISO dates and date-times, UTC without an offset; impossible dates refused', () => {
  assert.equal(parseInstant('2026-01-31'), Date.UTC(2026, 0, 31));
  assert.equal(parseInstant('2026-01-31T12:00'), Date.UTC(2026, 0, 31, 12));
  assert.equal(parseInstant('2026-01-31 12:00:00.5Z'), Date.UTC(2026, 0, 31, 12, 0, 0, 500));
  assert.equal(parseInstant('2026-01-31T12:00:00+02:00'), Date.UTC(2026, 0, 31, 10));
  for (const t of ['2026-02-30', '2026-13-01', '31.01.2026', '2026-01-31T24:00', '2026-01-31T12:00+19:00', 'tomorrow']) assert.equal(parseInstant(t), undefined, t);
});

test('parseWhen: relative to now in the given direction, now, or an instant', () => {
  assert.equal(parseWhen('1w', NOW, 'future'), NOW + 604_800_000);
  assert.equal(parseWhen('2h', NOW, 'past'), NOW - 7_200_000);
  assert.equal(parseWhen('now', NOW, 'past'), NOW);
  assert.equal(parseWhen('2020-01-01', NOW, 'future'), Date.UTC(2020, 0, 1));
  assert.equal(parseWhen('soon', NOW, 'future'), undefined);
});

test('formatSeconds', () => {
  assert.equal(formatSeconds(0), '0s');
  assert.equal(formatSeconds(90), '1m30s');
  assert.equal(formatSeconds(86400), '1d');
  assert.equal(formatSeconds(-605), '-10m5s');
});
