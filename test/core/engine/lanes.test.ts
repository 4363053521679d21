import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LaneQueue } from '../../../src/core/engine/lanes.js';

test('strict priority: close, then auth, then classic; FIFO within a lane', () => {
  const q = new LaneQueue<string>({ maxRunning: 4, reserve: 1, maxQueued: 10 });
  q.push('classic', 'c1'); q.push('auth', 'a1'); q.push('classic', 'c2'); q.push('close', 's1'); q.push('auth', 'a2');
  const order: string[] = [];
  for (let x = q.next(0); x; x = q.next(0)) order.push(x);
  assert.deepEqual(order, ['s1', 'a1', 'a2', 'c1', 'c2']);
});

test('reserved places: opens stop at maxRunning - reserve, stops may use all', () => {
  const q = new LaneQueue<string>({ maxRunning: 4, reserve: 1, maxQueued: 10 });
  assert.equal(q.canStart('auth', 2), true);
  assert.equal(q.canStart('auth', 3), false);
  assert.equal(q.canStart('classic', 3), false);
  assert.equal(q.canStart('close', 3), true);
  assert.equal(q.canStart('close', 4), false);
  q.push('auth', 'a'); q.push('close', 's');
  assert.equal(q.next(3), 's', 'a stop starts in the reserved place');
  assert.equal(q.next(3), undefined, 'an open does not');
});

test('open lanes are bounded, the close lane never refuses', () => {
  const q = new LaneQueue<number>({ maxRunning: 1, reserve: 0, maxQueued: 2 });
  assert.deepEqual([q.push('classic', 1), q.push('classic', 2), q.push('classic', 3)], [true, true, false]);
  assert.deepEqual([q.push('auth', 1), q.push('auth', 2), q.push('auth', 3)], [true, true, false]);
  for (let i = 0; i < 5000; i++) assert.equal(q.push('close', i), true);
  assert.equal(q.size('close'), 5000);
  assert.equal(q.drain().length, 5004);
  assert.equal(q.size(), 0);
});
