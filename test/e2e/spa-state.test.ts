/**
 * StateDir and the replay window, end to end with the real daemon in a network namespace:
 *   - a StateDir owned by another user, a symlinked or a group-writable replay.log: the daemon
 *     refuses to start with one line naming the path, and nothing planted there runs
 *     (issue 10.2);
 *   - SPAWindow raised from 3 s to 600 s across a restart: a captured knock whose replay record
 *     was pruned is re-sent and opens nothing (issue 10.3).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason } from '../helpers/root.js';
import { createPair, runCmd, type NetnsPair } from '../helpers/netns.js';
import { guardService, probe, waitProbe } from '../helpers/service.js';
import { auditRecords, guardedDoor, sleep, startDaemon, stopDaemon, waitFor, workdir, writeConfig, type Workdir } from '../helpers/daemon.js';
import { bin } from '../helpers/paths.js';
import { resend, spaPayloads, SPA_PORT } from '../helpers/spa-capture.js';

const skip = e2eSkipReason() ?? (existsSync('/usr/bin/tcpdump') || existsSync('/usr/sbin/tcpdump') ? undefined : 'tcpdump not installed');
const PORT = 2222;

/** Start knockd and wait (bounded) for it to exit; its exit code and stderr. */
async function startRefused(pair: NetnsPair, w: Workdir): Promise<{ code: number | null; stderr: string; started: boolean }> {
  const child = pair.spawn(pair.server, process.execPath, [bin('knockd'), '-c', w.conf, '-v']);
  let out = '', err = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const end = Date.now() + 15_000;
  while (child.exitCode === null && !/listening on/.test(out) && Date.now() < end) await sleep(50);
  const started = /listening on/.test(out);
  if (child.exitCode === null) child.kill('SIGTERM');
  const code = await exited;
  return { code, stderr: err, started };
}

async function enrol(w: Workdir, name: string): Promise<string> {
  const home = join(w.dir, `home-${name}`);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const key = join(home, 'key');
  assert.equal((await runCmd(process.execPath, [bin('knock'), '--keygen', '--key', key])).code, 0);
  const a = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', name, readFileSync(`${key}.enrol`, 'utf8').trim(), '--doors', 'ssh']);
  assert.equal(a.code, 0, a.stderr + a.stdout);
  return key;
}

test('a StateDir it cannot trust: the daemon refuses to start with one line naming the path; nothing planted runs', { skip }, async () => {
  const pair = await createPair('sst');
  const w = workdir('sstate');
  try {
    writeConfig(w, pair.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', 3));
    const marker = join(w.dir, 'planted-command-ran');
    const lease = {
      id: 'planted', door: 'ssh', doorIndex: 0, ip: '203.0.113.9', src: '203.0.113.9', family: 4, principal: { kind: 'sequence' },
      openedAt: Date.now() - 2000, expiresAt: Date.now() - 1000, grantedTtl: 1, stopCommand: `touch ${marker}`,
    };
    const cases: [string, () => void, RegExp][] = [
      ['StateDir owned by another user', () => {
        mkdirSync(w.state, { mode: 0o700 });
        writeFileSync(join(w.state, 'doors.json'), JSON.stringify({ format: 'knockd-ts/doors', version: 1, leases: [lease] }), { mode: 0o600 });
        chownSync(join(w.state, 'doors.json'), 4321, 4321);
        chownSync(w.state, 4321, 4321);
      }, new RegExp(`^knockd: state directory '${w.state}' is owned by uid 4321, not root \\[ERR_STATE\\]$`)],
      ['replay.log a symlink', () => {
        chownSync(w.state, 0, 0);
        writeFileSync(join(w.state, 'doors.json'), JSON.stringify({ format: 'knockd-ts/doors', version: 1, leases: [] }), { mode: 0o600 });
        chownSync(join(w.state, 'doors.json'), 0, 0);
        writeFileSync(join(w.dir, 'victim'), 'precious\n', { mode: 0o600 });
        symlinkSync(join(w.dir, 'victim'), join(w.state, 'replay.log'));
      }, new RegExp(`^knockd: '${w.state}/replay\\.log' is a symbolic link; refusing to follow it \\[ERR_STATE\\]$`)],
      ['replay.log group-writable', () => {
        rmSync(join(w.state, 'replay.log'), { force: true });
        writeFileSync(join(w.state, 'replay.log'), '', { mode: 0o600 });
        chmodSync(join(w.state, 'replay.log'), 0o664);
      }, new RegExp(`^knockd: permissions 0664 for '${w.state}/replay\\.log' are too open \\(writable by group/other\\); run 'chmod go-w ${w.state}/replay\\.log' \\[ERR_STATE\\]$`)],
    ];
    for (const [what, plant, want] of cases) {
      plant();
      await sleep(50);
      const r = await startRefused(pair, w);
      assert.equal(r.started, false, `${what}: the daemon started`);
      assert.notEqual(r.code, 0, what);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${what}: one line, got: ${r.stderr}`);
      assert.match(lines[0]!, want, what);
      assert.equal(existsSync(marker), false, `${what}: a planted stop command ran`);
    }
    assert.equal(readFileSync(join(w.dir, 'victim'), 'utf8'), 'precious\n');
  } finally {
    await pair.cleanup();
  }
});

test('SPAWindow 3 s → 600 s with a restart: a captured knock whose record was pruned is re-sent and opens nothing', { skip }, async () => {
  const pair = await createPair('swin');
  const w = workdir('swindow');
  try {
    await guardService(pair, PORT, 4);
    const conf = (window: number) => writeConfig(w, pair.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', 2), `\tSPAWindow = ${window}`);
    conf(3);
    const key = await enrol(w, 'alice');
    let d = await startDaemon(pair, w);
    const pcap = join(w.dir, 'spa.pcap');
    const dump = pair.spawn(pair.server, 'tcpdump', ['-i', pair.serverIf, '-U', '-n', '-w', pcap, 'udp', 'dst', 'port', String(SPA_PORT)]);
    try {
      await sleep(1000);
      const k = await pair.run(pair.client, process.execPath, [bin('knock'), '--spa', '--key', key, '-4', pair.serverV4]);
      assert.equal(k.code, 0, k.stderr);
      assert.equal(await waitProbe(pair, pair.serverV4, PORT, true, 5000), true, 'the genuine knock opens');
      assert.equal(await waitProbe(pair, pair.serverV4, PORT, false, 10_000), false, 'and the door closes');
      await sleep(300);
      dump.kill('SIGINT');
      await new Promise((r) => dump.once('exit', r));
      const captured = spaPayloads(pcap);
      assert.equal(captured.length, 1);
      await sleep(3500);                                  // past the 3 s window: the record may be pruned now
      await stopDaemon(d);
      conf(600);                                          // raised while stopped
      d = await startDaemon(pair, w);
      await resend(pair, pair.serverV4, captured[0]!);
      assert.equal(await waitProbe(pair, pair.serverV4, PORT, true, 1500), false, 'the captured knock opened the door after the raise');
      const recs = await waitFor(() => auditRecords(w), (r) => r.some((x) => x.event === 'knock.reject'), 3000);
      assert.ok(recs.some((x) => x.event === 'knock.reject' && (x.reason === 'stale' || x.reason === 'replayed')), JSON.stringify(recs.filter((x) => x.event === 'knock.reject')));
      assert.equal(recs.filter((x) => x.event === 'door.open').length, 1, 'only the genuine knock opened');
      // the persisted history: largest window 600 s, floor moved at the restart
      const win = JSON.parse(readFileSync(join(w.state, 'replay.window'), 'utf8')) as { maxWindowMs: number; floorMs: number };
      assert.equal(win.maxWindowMs, 600_000);
      assert.equal(await probe(pair, pair.serverV4, PORT), false);
    } finally {
      if (dump.exitCode === null) dump.kill('SIGKILL');
      await stopDaemon(d);
    }
  } finally {
    await pair.cleanup();
  }
});
