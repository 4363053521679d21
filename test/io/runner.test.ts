import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRunner, planCommand } from '../../src/io/runner.js';
import { runShell } from '../../src/io/exec.js';
import { fixture } from '../helpers/paths.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function withRunner<T>(opts: ConstructorParameters<typeof CommandRunner>[0], fn: (r: CommandRunner) => Promise<T>): Promise<T> {
  const r = new CommandRunner(opts);
  try { return await fn(r); } finally { await r.close(); }
}

function tmp(): string { return mkdtempSync(join(tmpdir(), 'runner-')); }

test('planCommand: plain word lists run directly, everything shell-like through /bin/sh -c', () => {
  const rows: Array<[string, string]> = [
    ['/sbin/iptables -I INPUT -s 192.0.2.1 -p tcp --dport 22 -j ACCEPT', 'direct'],
    ['iptables -A INPUT -s 10.0.0.1 -p tcp --dport 22 -j ACCEPT', 'direct'],
    ['/usr/sbin/ip6tables -I INPUT 1 -s 2001:db8::1 -p tcp --dport 22 -j ACCEPT', 'direct'],
    ['  iptables\t-L  ', 'direct'],
    ['ipset add knock 192.0.2.7 timeout=30 comment=a,b@c%d', 'direct'],
    ["nft add element inet f allow { 192.0.2.1 }", 'shell'],
    ['iptables -C INPUT -j ACCEPT || iptables -I INPUT -j ACCEPT', 'shell'],
    ['echo hi', 'shell'],            // builtin: bash and dash differ, keep dash
    ['true', 'shell'],
    ['exit 3', 'shell'],
    ['if true', 'shell'],            // keyword
    ['FOO=1 iptables -L', 'shell'],  // assignment
    ["iptables -m comment --comment 'a b'", 'shell'],
    ['iptables -s $IP', 'shell'],
    ['ls *', 'shell'],
    ['ls ~', 'shell'],
    ['iptables -L # list', 'shell'],
    ['iptables -L > /dev/null', 'shell'],
    ['iptables -L\r', 'shell'],
    ['iptables -L\niptables -F', 'fallback'],
    ['iptables -L\0', 'fallback'],
    ['', 'shell'],
  ];
  for (const [cmd, want] of rows) assert.equal(planCommand(cmd), want, JSON.stringify(cmd));
});

test('a direct command gets exactly the argv /bin/sh -c would give it', async () => {
  const dir = tmp();
  try {
    const fw = fixture('bin', 'fake-iptables');
    const lines = [
      `${fw} -I INPUT 1 -s 192.0.2.1 -p tcp --dport 22 -j ACCEPT`,
      `  ${fw}\t-A  INPUT\t\t-s 2001:db8::5 -m comment=x,y@z%q:w  `,
      `${fw} -L`,
    ];
    for (const cmd of lines) assert.equal(planCommand(cmd), 'direct', cmd);
    const viaRunner = join(dir, 'runner.log'), viaSh = join(dir, 'sh.log');
    await withRunner({ env: { FAKE_FW_LOG: viaRunner } }, async (r) => {
      for (const cmd of lines) assert.equal((await r.run(cmd)).exitCode, 0, cmd);
    });
    for (const cmd of lines) assert.equal((await runShell(cmd, { env: { FAKE_FW_LOG: viaSh } })).exitCode, 0, cmd);
    const a = readFileSync(viaRunner, 'utf8'), b = readFileSync(viaSh, 'utf8');
    assert.equal(a.trim().split('\n').length, lines.length);
    assert.equal(a, b);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('exit codes match runShell, direct and through the shell', async () => {
  const rows = ['true', 'false', 'exit 3', 'exit 255', 'false || exit 7', 'true && exit 4', '/bin/false', '/bin/true',
    '/nonexistent/runner-prog --x', 'nonexistent-runner-prog', 'kill -TERM $$'];
  await withRunner({}, async (r) => {
    for (const cmd of rows) {
      const a = await r.run(cmd);
      const b = await runShell(cmd);
      const expect = b.exitCode ?? (b.signal === 'SIGTERM' ? 143 : -1);
      assert.equal(a.exitCode, expect, cmd);
      assert.equal(a.failed, expect !== 0, cmd);
      assert.equal(a.timedOut, false, cmd);
      assert.equal(a.lost, undefined, cmd);
    }
    const missing = await r.run('/nonexistent/runner-prog --x');
    assert.match(missing.stderrTail ?? '', /No such file|not found/);
  });
});

test('shell syntax and the environment work as with /bin/sh -c', async () => {
  const dir = tmp();
  try {
    const out = join(dir, 'o');
    await withRunner({ env: { RUNNER_X: 'hello' } }, async (r) => {
      const res = await r.run(`printf '%s\\n' "$RUNNER_X" | tr a-z A-Z > '${out}'`);
      assert.equal(res.exitCode, 0);
    });
    assert.equal(readFileSync(out, 'utf8'), 'HELLO\n');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('stderr tail is captured and bounded; stdout is discarded', async () => {
  await withRunner({ stderrTailBytes: 100 }, async (r) => {
    const res = await r.run('head -c 300000 /dev/zero; i=0; while [ $i -lt 500 ]; do echo "err line $i" >&2; i=$((i+1)); done; exit 2');
    assert.equal(res.exitCode, 2);
    assert.ok(res.stderrTail !== undefined && Buffer.byteLength(res.stderrTail) <= 100, String(res.stderrTail?.length));
    assert.match(res.stderrTail ?? '', /err line 499\n$/);
    const quiet = await r.run('echo only-stdout');
    assert.equal(quiet.stderrTail, undefined);
  });
});

test('output that imitates the protocol does not end another command', async () => {
  await withRunner({}, async (r) => {
    const slow = r.run('sleep 0.4; exit 5');
    const fake = await r.run(`printf '\\036%s E 1 0\\n\\036deadbeef E 1 0\\n' x >&2; exit 0`);
    assert.equal(fake.exitCode, 0);
    const s = await slow;
    assert.equal(s.exitCode, 5, 'the slow command ended on its own status');
  });
});

test('each command runs in its own process group, apart from the daemon and the runner', async () => {
  const dir = tmp();
  try {
    const out = join(dir, 'pgrp');
    await withRunner({}, async (r) => {
      r.start();
      const res = await r.run(`cut -d' ' -f5 /proc/$$/stat > '${out}'`);
      assert.equal(res.exitCode, 0);
      const pgrp = Number(readFileSync(out, 'utf8').trim());
      const ownPgrp = Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ')[2]);
      assert.ok(pgrp > 0);
      assert.notEqual(pgrp, ownPgrp, 'not the daemon group');
      assert.notEqual(pgrp, r.pid, 'not the runner group');
    });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('time limit kills the whole process group', async () => {
  const dir = tmp();
  try {
    const marker = join(dir, 'late');
    await withRunner({ timeoutMs: 200 }, async (r) => {
      const res = await r.run(`(sleep 2; touch '${marker}') & sleep 30`);
      assert.equal(res.timedOut, true);
      assert.equal(res.failed, true);
      assert.equal(res.signal, 'SIGTERM');
      assert.ok(res.durationMs < 10_000);
      // the runner still works afterwards
      assert.equal((await r.run('/bin/true')).exitCode, 0);
    });
    await sleep(2500);
    assert.equal(existsSync(marker), false, 'background child was killed with the group');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a command ignoring SIGTERM is killed with SIGKILL', async () => {
  await withRunner({ timeoutMs: 150 }, async (r) => {
    const res = await r.run("trap '' TERM; sleep 30");
    assert.equal(res.timedOut, true);
    assert.equal(res.signal, 'SIGKILL');
    assert.ok(res.durationMs >= 2000 && res.durationMs < 10_000, String(res.durationMs));
  });
});

test('runner killed mid-command: that result is lost (outcome unknown); the next command starts a new runner', async () => {
  await withRunner({}, async (r) => {
    r.start();
    const first = r.pid;
    assert.ok(first);
    const pending = r.run('sleep 1');
    await sleep(150);
    process.kill(first, 'SIGKILL');   // our own child, by PID
    const res = await pending;
    assert.equal(res.lost, true);
    assert.equal(res.failed, true);
    assert.match(res.stderrTail ?? '', /outcome is unknown/);
    const next = await r.run('/bin/true');
    assert.equal(next.exitCode, 0);
    assert.ok(r.pid !== undefined && r.pid !== first, 'a new runner');
    assert.equal(r.usingFallback, false);
  });
});

test('no bash: every command still runs (through execa), nothing is lost', async () => {
  const notices: string[] = [];
  await withRunner({ bash: '/nonexistent/bash', onNotice: (m) => notices.push(m) }, async (r) => {
    const res = await r.run('exit 6');
    assert.equal(res.exitCode, 6);
    assert.equal(r.usingFallback, true);
    assert.equal((await r.run('/bin/true')).exitCode, 0);
  });
  assert.ok(notices.some((m) => /cannot start/.test(m)), notices.join('; '));
});

test('a runner that keeps dying makes the runner fall back to execa', async () => {
  const dir = tmp();
  try {
    const bad = join(dir, 'bash');
    writeFileSync(bad, '#!/bin/sh\nexit 1\n');
    chmodSync(bad, 0o755);
    await withRunner({ bash: bad }, async (r) => {
      for (let i = 0; i < 5; i++) {
        const res = await r.run('exit 4');
        // a dead runner loses the command or, once given up on, execa runs it
        assert.ok(res.lost === true || res.exitCode === 4, JSON.stringify(res));
      }
      assert.equal(r.usingFallback, true);
      assert.equal((await r.run('exit 4')).exitCode, 4);
    });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('bounded: at most maxRunning at once, maxQueued waiting, the rest refused', async () => {
  const dir = tmp();
  try {
    await withRunner({ maxRunning: 2, reserveForClose: 0, maxQueued: 1 }, async (r) => {
      const runs = [0, 1, 2].map((i) => r.run(`touch '${join(dir, `s${i}`)}'; sleep 0.3; touch '${join(dir, `e${i}`)}'`));
      const refused = await r.run('/bin/true');
      assert.equal(refused.failed, true);
      assert.match(refused.stderrTail ?? '', /queue full/);
      await sleep(150);
      assert.equal(existsSync(join(dir, 's2')), false, 'the third waits while two run');
      const res = await Promise.all(runs);
      for (const x of res) assert.equal(x.exitCode, 0);
      assert.ok(existsSync(join(dir, 'e2')));
    });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('lanes: a stop command starts at once in its reserved place while opens wait; a full open lane never refuses stops', async () => {
  const dir = tmp();
  try {
    await withRunner({ maxRunning: 2, reserveForClose: 1, maxQueued: 1 }, async (r) => {
      const slow = (name: string) => `touch '${join(dir, `s-${name}`)}'; sleep 0.4; touch '${join(dir, `e-${name}`)}'`;
      const opens = [r.run(slow('o1'), 'classic'), r.run(slow('o2'), 'classic')];
      const refused = await r.run('/bin/true', 'classic');
      assert.match(refused.stderrTail ?? '', /queue full \(classic lane\)/);
      const stops = [0, 1, 2].map(() => r.run('/bin/true', 'close'));
      const first = await stops[0];
      assert.equal(first?.exitCode, 0);
      assert.equal(existsSync(join(dir, 'e-o1')), false, 'the stop did not wait for the running open');
      assert.equal(existsSync(join(dir, 's-o2')), false, 'the second open waits: only one place is not reserved');
      for (const s of await Promise.all(stops)) assert.equal(s.exitCode, 0, 'stops are never refused');
      for (const o of await Promise.all(opens)) assert.equal(o.exitCode, 0);
    });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('many commands in a row and at once all report their own status', async () => {
  await withRunner({}, async (r) => {
    const res = await Promise.all(Array.from({ length: 300 }, (_, i) => r.run(`exit ${i % 7}`)));
    res.forEach((x, i) => assert.equal(x.exitCode, i % 7, `command ${i}`));
  });
});

test('close(): the runner exits; later commands still run', async () => {
  const r = new CommandRunner({});
  r.start();
  const pid = r.pid;
  assert.ok(pid);
  assert.equal((await r.run('/bin/true')).exitCode, 0);
  await r.close();
  await sleep(50);
  assert.equal(existsSync(`/proc/${pid}`) && !/\bZ\b/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? ''), false, 'runner gone');
  assert.equal((await r.run('exit 2')).exitCode, 2);
});

test('a much-used runner is replaced by a fresh one when idle; no command notices', async () => {
  const notices: string[] = [];
  await withRunner({ recycleAfter: 5, onNotice: (m) => notices.push(m) }, async (r) => {
    const pids = new Set<number>();
    for (let i = 0; i < 17; i++) {
      assert.equal((await r.run(`exit ${i % 4}`)).exitCode, i % 4, `command ${i}`);
      if (r.pid !== undefined) pids.add(r.pid);
    }
    assert.ok(pids.size >= 3, `runners used: ${pids.size}`);
    assert.equal(r.usingFallback, false, 'recycling is not dying');
    // busy runners are not recycled under a command: 12 at once all complete
    const res = await Promise.all(Array.from({ length: 12 }, (_, i) => r.run(`exit ${i % 3}`)));
    res.forEach((x, i) => assert.equal(x.exitCode, i % 3));
  });
  assert.deepEqual(notices, []);
});
