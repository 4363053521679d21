/**
 * `ssh myserver` knocks first (issue 16.4), with real OpenSSH in namespaces: Debian's sshd,
 * started by the test on a private port in the server namespace behind an SPA door, and the
 * real ssh/scp clients in the client namespace using `ProxyCommand knock myserver -W %h:%p`
 * (profile and key from ~/.knock). The server's firewall keeps established connections
 * (`-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT` first), as the README recommends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason } from '../helpers/root.js';
import { createPair, runCmd, type NetnsPair } from '../helpers/netns.js';
import { auditRecords, guardedDoor, startDaemon, stopDaemon, waitFor, workdir, writeConfig, type Workdir } from '../helpers/daemon.js';
import { sshSkipReason, startSshd, type TestSshd } from '../helpers/sshd.js';
import { bin } from '../helpers/paths.js';

const skip = e2eSkipReason() ?? sshSkipReason();
const PORT = 2222;
const DOOR_S = 4;

async function firewall(pair: NetnsPair): Promise<void> {
  for (const args of [
    ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
    ['-A', 'INPUT', '-p', 'tcp', '--dport', String(PORT), '-j', 'REJECT', '--reject-with', 'tcp-reset'],
  ]) {
    const r = await pair.run(pair.server, 'iptables', ['-w', ...args]);
    assert.equal(r.code, 0, r.stderr);
  }
}

async function enrol(w: Workdir): Promise<string> {
  const home = join(w.dir, 'knock-home');
  mkdirSync(home, { mode: 0o700 });
  const key = join(home, 'key');
  assert.equal((await runCmd(process.execPath, [bin('knock'), '--keygen', '--key', key])).code, 0);
  const a = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', 'alice', readFileSync(`${key}.enrol`, 'utf8').trim(), '--doors', 'ssh']);
  assert.equal(a.code, 0, a.stderr);
  return key;
}

const ssh = (pair: NetnsPair, s: TestSshd, args: string[], timeoutMs = 60000) =>
  pair.run(pair.client, 'env', [`HOME=${s.home}`, 'ssh', '-F', s.clientConfig, ...args], { timeoutMs });

test('real OpenSSH through ProxyCommand knock: refused without a knock, `echo ok` in one try, scp 10 MB intact, a session outlives its door; --wait', { skip }, async () => {
  const pair = await createPair('ssh');
  const w = workdir('ssh');
  try {
    writeConfig(w, pair.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', DOOR_S));
    const key = await enrol(w);
    const s = await startSshd(pair, w.dir, pair.serverV4, PORT, key);
    await firewall(pair);
    const d = await startDaemon(pair, w);
    try {
      // 1. without a knock the port is closed
      const no = await ssh(pair, s, ['plain', 'echo ok']);
      assert.notEqual(no.code, 0);
      assert.match(no.stderr, /Connection refused/);

      // 2. with the ProxyCommand: one try
      const ok = await ssh(pair, s, ['myserver', 'echo ok']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'ok\n');
      assert.equal(ok.stderr, '');

      // 3. scp of 10 MB through the ProxyCommand arrives intact
      const src = join(w.dir, 'ten.bin');
      const data = randomBytes(10 * 1024 * 1024);
      writeFileSync(src, data);
      const dst = join(w.dir, 'ten-remote.bin');
      const cp = await pair.run(pair.client, 'env', [`HOME=${s.home}`, 'scp', '-q', '-F', s.clientConfig, src, `myserver:${dst}`], { timeoutMs: 120000 });
      assert.equal(cp.code, 0, cp.stderr);
      const sum = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      assert.equal(sum(readFileSync(dst)), sum(data), 'checksum of the copy');

      // 4. a session started while the door is open keeps working after it closes
      const closesBefore = auditRecords(w).filter((r) => r.event === 'door.close').length;
      const flag = join(w.dir, 'go-on');
      const script = `echo start; i=0; while [ ! -e ${flag} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo end`;
      const long = pair.spawn(pair.client, 'ssh', ['-F', s.clientConfig, 'myserver', script], { env: s.env });
      let out = '';
      long.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
      const exited = new Promise<number | null>((r) => long.on('exit', (c) => r(c)));
      await waitFor(() => out, (o) => o.includes('start'), 20000);
      assert.equal(out, 'start\n');
      const closed = await waitFor(() => auditRecords(w).filter((r) => r.event === 'door.close').length, (n) => n > closesBefore, (DOOR_S + 10) * 1000);
      assert.ok(closed > closesBefore, 'the door closed');
      const refused = await ssh(pair, s, ['plain', 'true']);
      assert.notEqual(refused.code, 0, 'a new connection is refused once the door closed');
      assert.match(refused.stderr, /Connection refused/);
      writeFileSync(flag, '');
      assert.equal(await exited, 0, 'the session ended normally');
      assert.equal(out, 'start\nend\n', 'the session kept working after the door closed');

      // 5. a knock that cannot open (a door this key may not use): ssh shows knock's one line
      const cfg = readFileSync(s.clientConfig, 'utf8');
      const common = cfg.slice(cfg.indexOf('Host plain')).split('\n').slice(2).join('\n');
      appendFileSync(s.clientConfig, `Host bad\n    HostKeyAlias myserver\n    ProxyCommand ${process.execPath} ${bin('knock')} bad --timeout 2 -W %h:%p\n${common}`);
      appendFileSync(join(s.home, '.knock', 'config'), `[bad]\nhost = ${pair.serverV4}\nkey = ${key}\ndoor = nosuch\n`);
      const bad = await ssh(pair, s, ['bad', 'true']);
      assert.equal(bad.code, 255);
      const knockLines = bad.stderr.split('\n').filter((l) => l.startsWith('knock: '));
      assert.equal(knockLines.length, 1, bad.stderr);
      assert.match(knockLines[0] as string, /^knock: door did not open within 2 s: no connection to [\d.]+:2222 \(last error ECONNREFUSED: connection refused\) after a knock and a re-knock .*check that knockd runs on .* the door name/);

      // 6. for scripts: `knock myserver --wait 2222 && ssh ...` (plain ssh, no ProxyCommand)
      const wt = await pair.run(pair.client, 'env', [`HOME=${s.home}`, process.execPath, bin('knock'), 'myserver', '--wait', String(PORT)]);
      assert.equal(wt.code, 0, wt.stderr);
      const after = await ssh(pair, s, ['plain', 'echo ok']);
      assert.equal(after.code, 0, after.stderr);
      assert.equal(after.stdout, 'ok\n');
    } finally {
      await stopDaemon(d);
    }
  } finally {
    await pair.cleanup();
  }
});
