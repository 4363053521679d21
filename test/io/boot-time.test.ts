import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bootTimeMs } from '../../src/io/boot-time.js';

test('bootTimeMs reads btime from /proc/stat; missing or odd files give undefined', () => {
  const dir = mkdtempSync(join(tmpdir(), 'boot-'));
  try {
    const f = join(dir, 'stat');
    writeFileSync(f, 'cpu  1 2 3\nintr 5\nbtime 1767225600\nprocesses 9\n');
    assert.equal(bootTimeMs(f), 1767225600000);
    writeFileSync(f, 'cpu 1\nbtime x\n');
    assert.equal(bootTimeMs(f), undefined);
    assert.equal(bootTimeMs(join(dir, 'missing')), undefined);
  } finally { rmSync(dir, { recursive: true, force: true }); }
  // the real one: in the past, after 2000-01-01
  const real = bootTimeMs();
  if (real === undefined) return;
  assert.ok(real > Date.UTC(2000, 0, 1) && real <= Date.now(), String(real));
});
