/**
 * daemon/main.ts holdSignals: SIGHUP/SIGTERM/SIGINT/SIGUSR2 that arrive while the daemon starts
 * are held (never the default action, which exits at once and closes nothing), then replayed:
 * a stop wins over everything, several SIGHUPs are one reload.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { holdSignals } from '../../src/daemon/main.js';

const names = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGUSR2'] as const;
const listeners = () => names.map((n) => process.listenerCount(n));

test('signals during start-up are held and replayed once the daemon runs; release removes the holders', () => {
  const before = listeners();
  const h = holdSignals();
  assert.deepEqual(listeners(), before.map((n) => n + 1), 'one holder per signal, so the default action never applies');
  process.emit('SIGHUP', 'SIGHUP');
  process.emit('SIGHUP', 'SIGHUP');
  process.emit('SIGUSR2', 'SIGUSR2');
  h.release();
  h.release();
  assert.deepEqual(listeners(), before);
  const calls: string[] = [];
  h.replay({ hup: () => calls.push('hup'), stop: (s) => calls.push(`stop ${s}`), usr2: () => calls.push('usr2') });
  assert.deepEqual(calls, ['hup', 'usr2'], 'two SIGHUPs are one reload');
});

test('a SIGTERM held during start-up stops the daemon and nothing else is replayed', () => {
  const h = holdSignals();
  process.emit('SIGHUP', 'SIGHUP');
  process.emit('SIGTERM', 'SIGTERM');
  h.release();
  const calls: string[] = [];
  h.replay({ hup: () => calls.push('hup'), stop: (s) => calls.push(`stop ${s}`), usr2: () => calls.push('usr2') });
  assert.deepEqual(calls, ['stop SIGTERM']);
  const quiet = holdSignals();
  quiet.release();
  const none: string[] = [];
  quiet.replay({ hup: () => none.push('hup'), stop: () => none.push('stop'), usr2: () => none.push('usr2') });
  assert.deepEqual(none, []);
});
