/** One-time-sequence file rotation: atomic replace, byte preservation, exhaustion. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Hit } from '../../src/core/config/types.js';
import { consumeOneTimeSequence, currentOneTimeSequence } from '../../src/io/ots-file.js';
import { isAppError } from '../../src/core/errors.js';

const h = (text: string): Hit[] => text.split(',').map((s) => {
  const [port, proto] = s.split('/');
  return { port: Number(port), proto: proto === 'udp' ? 'udp' : 'tcp' };
});

function withDir(fn: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kts-h3-ots-'));
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

const bytes = (p: string): string => readFileSync(p, 'latin1');

test('F01 consume a 3-line CRLF file to exhaustion; every byte but the # prefixes kept', withDir((dir) => {
  const p = join(dir, 'ots');
  const orig = '# my sequences\r\n 1001,1002\r\n\r\n2001:udp,2002\r\n  3001 \r\n';
  writeFileSync(p, orig, 'latin1');
  assert.deepEqual(currentOneTimeSequence(p), h('1001,1002'));

  assert.deepEqual(consumeOneTimeSequence(p, h('1001,1002')), { next: h('2001/udp,2002') });
  assert.equal(bytes(p), '# my sequences\r\n# 1001,1002\r\n\r\n2001:udp,2002\r\n  3001 \r\n');

  assert.deepEqual(consumeOneTimeSequence(p, h('2001/udp,2002')), { next: h('3001') });
  assert.equal(bytes(p), '# my sequences\r\n# 1001,1002\r\n\r\n#2001:udp,2002\r\n  3001 \r\n');

  assert.deepEqual(consumeOneTimeSequence(p, h('3001')), { next: undefined });
  const exhausted = '# my sequences\r\n# 1001,1002\r\n\r\n#2001:udp,2002\r\n#  3001 \r\n';
  assert.equal(bytes(p), exhausted);
  assert.equal(currentOneTimeSequence(p), undefined);

  // a used sequence offered again: nothing to mark, still exhausted, no crash, file untouched
  assert.deepEqual(consumeOneTimeSequence(p, h('3001')), { next: undefined });
  assert.equal(bytes(p), exhausted);
  assert.deepEqual(readdirSync(dir), ['ots'], 'no temp files left behind');
}));

test('F02 R08: an invalid line before the current one does not allow reuse', withDir((dir) => {
  const p = join(dir, 'ots');
  writeFileSync(p, '7000,\n 1001,1002\n 2001\n');
  assert.deepEqual(currentOneTimeSequence(p), h('1001,1002'));
  assert.deepEqual(consumeOneTimeSequence(p, h('1001,1002')), { next: h('2001') });
  assert.equal(bytes(p), '7000,\n# 1001,1002\n 2001\n');
  // the old sequence is gone: consuming it again marks nothing and yields the current one
  assert.deepEqual(consumeOneTimeSequence(p, h('1001,1002')), { next: h('2001') });
  assert.equal(bytes(p), '7000,\n# 1001,1002\n 2001\n');
}));

test('F03 atomic replace keeps the file mode (also under a strict umask) and a symlink', withDir((dir) => {
  const p = join(dir, 'ots');
  writeFileSync(p, ' 1001\n 2001\n 3001\n');
  chmodSync(p, 0o640);
  const old = process.umask(0o077);
  try {
    consumeOneTimeSequence(p, h('1001'));
  } finally { process.umask(old); }
  assert.equal(statSync(p).mode & 0o7777, 0o640);
  chmodSync(p, 0o604);
  const link = join(dir, 'link');
  symlinkSync(p, link);
  assert.deepEqual(consumeOneTimeSequence(link, h('2001')), { next: h('3001') });
  assert.equal(statSync(p).mode & 0o7777, 0o604);
  assert.equal(bytes(link), '# 1001\n# 2001\n 3001\n');
  assert.deepEqual(readdirSync(dir).sort(), ['link', 'ots']);
}));

test('F04 non-UTF-8 bytes survive the rewrite', withDir((dir) => {
  const p = join(dir, 'ots');
  const raw = Buffer.from([0x20, 0x31, 0x30, 0x30, 0x31, 0x0a, 0x23, 0xff, 0xfe, 0x80, 0x0a, 0x20, 0x32, 0x30, 0x30, 0x31, 0x0a]);
  writeFileSync(p, raw);
  assert.deepEqual(consumeOneTimeSequence(p, h('1001')), { next: h('2001') });
  assert.deepEqual(readFileSync(p), Buffer.concat([Buffer.from('#'), raw]));
}));

test('F05 missing file or a directory instead of a file: AppError ERR_OTS_FILE naming the path', withDir((dir) => {
  const p = join(dir, 'nope');
  assert.throws(() => consumeOneTimeSequence(p, h('1')), (e) => isAppError(e) && e.code === 'ERR_OTS_FILE' && e.message.includes(p));
  assert.throws(() => currentOneTimeSequence(p), (e) => isAppError(e) && e.code === 'ERR_OTS_FILE');
  assert.throws(() => consumeOneTimeSequence(dir, h('1')), (e) => isAppError(e) && e.code === 'ERR_OTS_FILE' && e.message.includes(dir));
}));

test('F06 concurrent readers never see a partial file', (t) => withDir(async (dir) => {
  const p = join(dir, 'ots');
  const n = 60;
  const lines = Array.from({ length: n }, (_, i) =>
    ' ' + Array.from({ length: 12 }, (_, j) => String(1000 + i * 12 + j)).join(',') + '\n');
  const states: string[] = [];
  for (let k = 0; k <= n; k++) states.push(lines.map((l, i) => (i < k ? '#' + l : l)).join(''));
  writeFileSync(p, states[0] ?? '');
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    const { readFileSync } = require('node:fs');
    const ok = new Set(workerData.states);
    const stop = new Int32Array(workerData.stop);
    let reads = 0, bad = 0, sample = '';
    parentPort.postMessage('ready');
    while (Atomics.load(stop, 0) === 0) {
      let t;
      try { t = readFileSync(workerData.path, 'latin1'); } catch (e) { bad++; sample = String(e); continue; }
      reads++;
      if (!ok.has(t)) { bad++; sample = t.slice(0, 80); }
    }
    parentPort.postMessage({ reads, bad, sample });
  `, { eval: true, workerData: { path: p, states, stop: stop.buffer } });
  try {
    const results = new Promise<{ reads: number; bad: number; sample: string }>((resolve, reject) => {
      worker.on('message', (m: unknown) => { if (m !== 'ready') resolve(m as { reads: number; bad: number; sample: string }); });
      worker.on('error', reject);
    });
    await new Promise<void>((resolve) => worker.once('message', () => resolve()));
    for (let i = 0; i < n; i++) {
      const used = h((lines[i] ?? '').trim());
      const r = consumeOneTimeSequence(p, used);
      assert.deepEqual(r.next, i + 1 < n ? h((lines[i + 1] ?? '').trim()) : undefined);
      await new Promise((res) => setImmediate(res));
    }
    Atomics.store(stop, 0, 1);
    const res = await results;
    assert.equal(res.bad, 0, `partial/unknown content seen: ${res.sample}`);
    assert.ok(res.reads > 0);
    t.diagnostic(`reader thread: ${res.reads} reads during ${n} rotations`);
    assert.equal(bytes(p), states[n]);
  } finally {
    Atomics.store(stop, 0, 1);
    await worker.terminate();
  }
})());
