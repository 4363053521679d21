/**
 * Our `knock` client against Debian's real knockd 0.8, in a private namespace pair:
 * the guarded service (REJECT with tcp-reset) is closed before the knock, open after it
 * (knockd's start_command inserted an ACCEPT for the knocker), and closed again after
 * cmd_timeout (stop_command). TCP and UDP hits, IPv4 and IPv6. Polls, no timing assertions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { e2eSkipReason } from '../helpers/root.js';
import { createPair } from '../helpers/netns.js';
import { guardService, probe, waitProbe } from '../helpers/service.js';

const KNOCKD = '/usr/sbin/knockd';
const ourKnock = fileURLToPath(new URL('../../src/cli/knock.js', import.meta.url));
const runner = `import(${JSON.stringify(ourKnock)}).then(async (m) => { process.exitCode = await m.knockMain(process.argv.slice(1), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }); })`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(pred: () => boolean, limitMs: number): Promise<boolean> {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (pred()) return true;
    await sleep(50);
  }
  return pred();
}

test('our knock opens and closes doors of Debian knockd 0.8 (TCP+UDP hits, IPv4 and IPv6)', async (t) => {
  const skip = e2eSkipReason();
  if (skip) { t.skip(skip); return; }
  if (!existsSync(KNOCKD)) { t.skip(`${KNOCKD} not installed (apt-get install knockd)`); return; }

  const pair = await createPair('h6kd');
  const dir = mkdtempSync(join(tmpdir(), 'h6kd-'));
  try {
    const log = join(dir, 'knockd.log');
    const conf = join(dir, 'knockd.conf');
    writeFileSync(conf, [
      '[options]',
      `  LogFile = ${log}`,
      '',
      '[open4]',
      '  sequence      = 7101,7102:udp,7103',
      '  seq_timeout   = 10',
      '  tcpflags      = syn',
      '  start_command = iptables -I INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT',
      '  cmd_timeout   = 3',
      '  stop_command  = iptables -D INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT',
      '',
      '[open6]',
      '  sequence        = 7201:udp,7202,7203:udp',
      '  seq_timeout     = 10',
      '  start_command_6 = ip6tables -I INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT',
      '  cmd_timeout     = 3',
      '  stop_command_6  = ip6tables -D INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT',
      '',
    ].join('\n'));

    await guardService(pair, 2222, 4);
    await guardService(pair, 2222, 6);
    assert.equal(await probe(pair, pair.serverV4, 2222), false, 'v4 service closed before the knock');
    assert.equal(await probe(pair, pair.serverV6, 2222), false, 'v6 service closed before the knock');

    const knockd = pair.spawn(pair.server, KNOCKD, ['-i', pair.serverIf, '-c', conf]);
    let knockdErr = '';
    knockd.stderr?.on('data', (d: Buffer) => { knockdErr += d.toString(); });
    knockd.stdout?.resume();
    const logText = () => (existsSync(log) ? readFileSync(log, 'utf8') : '');
    assert.ok(await waitFor(() => /listening on/.test(logText()), 10000), `knockd did not start: ${knockdErr} ${logText()}`);

    const cases = [
      { fam: 4 as const, host: pair.serverV4, client: pair.clientV4, door: 'open4', args: ['-d', '50', pair.serverV4, '7101', '7102:udp', '7103'] },
      { fam: 6 as const, host: pair.serverV6, client: pair.clientV6, door: 'open6', args: ['-v', '-d', '50', pair.serverV6, '7201:udp', '7202', '7203:udp'] },
    ];
    for (const c of cases) {
      const r = await pair.run(pair.client, process.execPath, ['-e', runner, '--', ...c.args], { timeoutMs: 20000 });
      assert.equal(r.code, 0, `knock v${c.fam}: ${r.stderr}`);
      if (c.fam === 6) assert.equal(r.stdout, `hitting udp ${c.host}:7201\nhitting tcp ${c.host}:7202\nhitting udp ${c.host}:7203\n`);
      assert.equal(await waitProbe(pair, c.host, 2222, true, 8000), true, `v${c.fam} service open after the knock; log: ${logText()}`);
      assert.match(logText(), new RegExp(`${c.client.replace(/[.:]/g, '\\$&')}: ${c.door}: OPEN SESAME`));
      // cmd_timeout = 3 s, then stop_command removes the ACCEPT
      assert.equal(await waitProbe(pair, c.host, 2222, false, 12000), false, `v${c.fam} service closed again after cmd_timeout; log: ${logText()}`);
      assert.match(logText(), new RegExp(`${c.client.replace(/[.:]/g, '\\$&')}: ${c.door}: command timeout`));
    }

    // a wrong order does not open anything
    const wrong = await pair.run(pair.client, process.execPath, ['-e', runner, '--', '-d', '50', pair.serverV4, '7103', '7102:udp', '7101'], { timeoutMs: 20000 });
    assert.equal(wrong.code, 0, wrong.stderr);
    await sleep(1000);
    assert.equal(await probe(pair, pair.serverV4, 2222), false, 'wrong sequence must not open the door');
  } finally {
    await pair.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
