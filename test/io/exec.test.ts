import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runShell } from '../../src/io/exec.js';
import { fixture } from '../helpers/paths.js';

test('exit codes through /bin/sh -c', async () => {
  const rows: Array<[string, number]> = [['true', 0], ['false', 1], ['exit 3', 3], ['exit 255', 255], ['false || exit 7', 7], ['true && exit 4', 4], ['false && exit 4', 1], ['true; exit 0', 0]];
  for (const [cmd, code] of rows) {
    const r = await runShell(cmd);
    assert.equal(r.exitCode, code, cmd);
    assert.equal(r.failed, code !== 0, cmd);
    assert.equal(r.timedOut, false, cmd);
  }
});

test('shell syntax works: pipes, redirection, env', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'h5-exec-'));
  try {
    const out = join(dir, 'o');
    const r = await runShell(`printf '%s\\n' "$H5_X" | tr a-z A-Z > '${out}'`, { env: { H5_X: 'hello' } });
    assert.equal(r.exitCode, 0);
    assert.equal(readFileSync(out, 'utf8'), 'HELLO\n');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('stderr tail is captured and bounded; large stdout does not block or fail', async () => {
  const r = await runShell('head -c 300000 /dev/zero; i=0; while [ $i -lt 500 ]; do echo "err line $i" >&2; i=$((i+1)); done; exit 2', { stderrTailBytes: 100 });
  assert.equal(r.exitCode, 2);
  assert.ok(r.stderrTail !== undefined && Buffer.byteLength(r.stderrTail) <= 100);
  assert.match(r.stderrTail ?? '', /err line 499\n$/);
});

test('time limit kills the whole process group', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'h5-exec-'));
  try {
    const marker = join(dir, 'late');
    // a child of the shell that would write the marker later: must die with the group
    const r = await runShell(`(sleep 2; touch '${marker}') & sleep 30`, { timeoutMs: 200 });
    assert.equal(r.timedOut, true);
    assert.equal(r.failed, true);
    assert.equal(r.exitCode, undefined);
    assert.equal(r.signal, 'SIGTERM');
    await new Promise((res) => setTimeout(res, 2500));
    assert.equal(existsSync(marker), false, 'background child was killed with the group');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('killed by a signal', async () => {
  const r = await runShell('kill -KILL $$');
  assert.equal(r.exitCode, undefined);
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(r.failed, true);
});

test('a missing program is exit 127 from the shell, not a throw', async () => {
  const r = await runShell('/nonexistent/h5-prog --x');
  assert.equal(r.exitCode, 127);
  assert.equal(r.failed, true);
  assert.match(r.stderrTail ?? '', /not found|No such file/);
});

test('fake-iptables idempotent rule through real /bin/sh (-C || -I)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'h5-exec-'));
  try {
    const log = join(dir, 'fw.log');
    const fw = fixture('bin', 'fake-iptables');
    const env = { FAKE_FW_LOG: log };
    const add = `${fw} -C INPUT -s 192.0.2.9 -j ACCEPT || ${fw} -I INPUT 1 -s 192.0.2.9 -j ACCEPT`;
    assert.equal((await runShell(add, { env })).exitCode, 0);
    assert.equal((await runShell(add, { env })).exitCode, 0);
    const calls = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[]);
    assert.deepEqual(calls.map((c) => c[0]), ['-C', '-I', '-C'], 'second run found the rule, no duplicate');
    const del = `${fw} -D INPUT -s 192.0.2.9 -j ACCEPT`;
    assert.equal((await runShell(del, { env })).exitCode, 0);
    assert.equal((await runShell(del, { env })).exitCode, 1, 'deleting a missing rule fails');
    assert.equal((await runShell(`${fw} -L`, { env: { FAKE_FW_LOG: log, FAKE_FW_FAIL: '4' } })).exitCode, 4);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
