/**
 * README.md's npm blocks and systemd/README.md's install block, run as written
 * (test/package/docrun.ts) in a sandbox (test/package/sandbox.ts: overlays of /etc /usr /var /run
 * /root in a private mount namespace) with the knocks in network namespaces. Run by
 * test/package/readme.test.ts as root:
 *
 *   KTS_HOST_PID=... KTS_SANDBOX_DIR=DIR unshare --mount --propagation private \
 *     node dist/test/package/readme-sandbox.js npm-usage|systemd-manual [TGZ]
 *
 * What the runner adds, besides environment: /etc/knockd.conf (an admin's config: the classic
 * door openSSH opens tcp/2201, the SPA door ssh tcp/22, logs in /var/log/knockd), the server's
 * interface named eth0, the client's key.enrol handed to the server as alice.enrol, and for
 * systemd-manual the key enrolment (not part of that block).
 */
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPair, type NetnsPair } from '../helpers/netns.js';
import { guardService, waitProbe } from '../helpers/service.js';
import { repoRoot } from '../helpers/paths.js';
import { docBlock, runDoc, shimDir, type DocCommand, type RunEnv } from './docrun.js';
import { enterSandbox } from './sandbox.js';
import { check, firewall, must, ok, sh } from './deb-checks.js';

const door = (name: string, port: number, body: string) => {
  const rule = (op: string) => `/usr/sbin/iptables -w ${op} INPUT -s %IP% -p tcp --dport ${port} -j ACCEPT`;
  return `[${name}]\n${body}\tcmd_timeout = 30\n\tstart_command = ${rule('-C')} || ${rule('-I')}\n\tstop_command = ! ${rule('-C')} || ${rule('-D')}\n`;
};
const CONF = '[options]\n\tLogFile = /var/log/knockd/knockd.log\n\tAuditLog = /var/log/knockd/audit.log\n' +
  door('openSSH', 2201, '\tsequence = 7000,8000:udp,9000\n\tseq_timeout = 5\n') + door('ssh', 22, '\tspa = yes\n');

async function run(c: DocCommand, r: RunEnv): Promise<string> {
  const res = await runDoc(c, r);
  check(res.code === 0, `${res.where}\n  exit ${res.code}\n  ${(res.stderr + res.stdout).trim().slice(-3000)}`);
  ok(res.where);
  return res.stdout;
}

/** The daemon's logs, for a failure message. */
const logs = (): string => `\n--- knockd.log\n${sh('tail -n 15 /var/log/knockd/knockd.log').out}--- audit.log\n${sh('tail -n 5 /var/log/knockd/audit.log').out}`;

async function netns(): Promise<NetnsPair> {
  const pair = await createPair('doc');
  // the documented `-i eth0` and the unit's default interface: the server's veth is eth0
  must(`ip -n ${pair.server} link set ${pair.serverIf} down && ip -n ${pair.server} link set ${pair.serverIf} name eth0 && ip -n ${pair.server} link set eth0 up`);
  must(`ip -n ${pair.server} addr add ${pair.serverV4}/24 dev eth0 2>/dev/null; ip -n ${pair.server} route get ${pair.clientV4} | grep -q 'dev eth0'`);
  pair.serverIf = 'eth0';
  await guardService(pair, 22, 4);
  await guardService(pair, 2201, 4);
  writeFileSync('/etc/hosts', `${readFileSync('/etc/hosts', 'utf8')}${pair.serverV4} server.example.org\n`);
  writeFileSync('/etc/knockd.conf', CONF);
  return pair;
}

async function npmUsage(top: string, r0: RunEnv): Promise<void> {
  const src = must(`bash ${join(repoRoot, 'scripts', 'pack.sh')} --source-copy ${join(top, 'src')}`).trim();
  const r: RunEnv = { ...r0, cwd: src };
  for (const c of docBlock('README.md', 'npm-install').commands) await run(c, r);
  check(/knockd-ts/.test(must('/usr/local/bin/knock --version')) && /knockd-ts/.test(must(`${r.env['HOME']}/.local/bin/knock --version`)), 'knock in /usr/local/bin and ~/.local/bin');
  // npm links the page into /usr/local/share/man; man -w names the link's target
  const page = must('man -w 8 knockd').trim();
  check(page === must('realpath /usr/local/share/man/man8/knockd.8').trim(), `man 8 knockd finds the npm-installed page (got ${page})`);
  must('test -f /usr/local/lib/node_modules/knockd-ts/node_modules/cap/build/Release/cap.node');
  ok('npm install: /usr/local/bin/{knock,knockd} with cap built, man pages in /usr/local/share/man; ~/.local/bin/knock');
  renameSync(join(src, must(`ls ${src} | grep 'knockd-ts-.*\\.tgz$'`).trim()), join(top, 'knockd-ts.tgz'));

  const pair = await netns();
  try {
    mkdirSync('/var/log/knockd', { recursive: true });
    const ru: RunEnv = { ...r0, cwd: join(top, 'admin'), clientNs: pair.client, serverNs: pair.server };
    mkdirSync(ru.cwd);
    for (const c of docBlock('README.md', 'usage').commands) {
      const kill = /^kill /.test(c.text);
      const pid = kill ? readFileSync('/var/run/knockd.pid', 'utf8').trim() : '';
      const out = await run(c, ru);
      if (/--keygen/.test(c.text)) copyFileSync(join(r0.env['HOME'] as string, '.knock', 'key.enrol'), join(ru.cwd, 'alice.enrol'));
      if (/^knock server/.test(c.text)) check(await waitProbe(pair, pair.serverV4, 2201, true, 5000), 'the classic knock opened tcp/2201');
      // until the daemon has read the new key (SIGHUP from `keys add`, else its 2 s poll) a knock
      // can come too early, as for a user: knock again (a new request each time), at most 3 times
      if (/^knock --spa/.test(c.text)) {
        let open = await waitProbe(pair, pair.serverV4, 22, true, 3000);
        for (let i = 0; !open && i < 2; i++) { await run(c, ru); open = await waitProbe(pair, pair.serverV4, 22, true, 3000); }
        check(open, `the SPA knock opened tcp/22${logs()}`);
      }
      if (/^knockd status/.test(c.text)) check(/openSSH/.test(out) && /\bssh\b/.test(out), `status lists both open doors:\n${out}`);
      if (/^knockd audit/.test(c.text)) check(/alice/.test(out), `audit shows alice's SPA opening:\n${out}`);
      if (kill) {
        for (let i = 0; i < 100 && sh(`kill -0 ${pid}`).code === 0; i++) await new Promise((res) => setTimeout(res, 100));
        check(sh(`kill -0 ${pid}`).code !== 0, 'the daemon stopped');
        check(!await waitProbe(pair, pair.serverV4, 22, false, 3000), `stopping the daemon closed its doors (CloseOnExit)${logs()}` +
          `--- iptables -S\n${sh(`ip netns exec ${pair.server} iptables -S`).out}`);
      }
    }
    ok('README usage: classic knock opened tcp/2201, SPA knock opened tcp/22, audit and status ran, kill closed the doors');

    // nftables doors: the README's ruleset commands, for a config that has an nft door
    writeFileSync('/etc/knockd.conf', `${CONF}[nftssh]\n\tspa = yes\n\tports = 2222\n\tcmd_timeout = 30\n\tnft_set = inet knockd ssh4\n`);
    for (const c of docBlock('README.md', 'nft-ruleset').commands) await run(c, ru);
    must(`ip netns exec ${pair.server} nft list set inet knockd ssh4 >/dev/null`);
    ok('README nft ruleset: knockd firewall --print nft | nft -f loaded table inet knockd with set ssh4 (server namespace)');
  } finally {
    await pair.cleanup();
  }
}

async function systemdManual(top: string, r0: RunEnv, tgz: string): Promise<void> {
  const r: RunEnv = { ...r0, cwd: join(top, 'admin') };
  mkdirSync(r.cwd);
  copyFileSync(tgz, join(r.cwd, 'knockd-ts-test.tgz'));
  const pair = await netns();
  try {
    const rn: RunEnv = { ...r, clientNs: pair.client, serverNs: pair.server, env: { ...r.env, DOCRUN_SERVER_NS: pair.server } };
    for (const c of docBlock('systemd/README.md', 'systemd-manual').commands) {
      if (/enable --now/.test(c.text)) {
        // the key, before the start (runner's setup: keys are the README's business, not this block's)
        must(`HOME=${r0.env['HOME']} /usr/local/bin/knock --keygen --force >/dev/null`);
        copyFileSync(join(r0.env['HOME'] as string, '.knock', 'key.enrol'), '/etc/knockd/alice.enrol');
        // as root, as an administrator would: the record is created owned by the KeysDir's owner
        must('/usr/local/bin/knockd keys add alice --pubkey-file /etc/knockd/alice.enrol --doors ssh');
        check(must('stat -c %U /etc/knockd/keys/alice.key').trim() === 'knockd', 'the record root wrote is owned by the service user');
      }
      await run(c, rn);
    }
    const pid = readFileSync(join(r.env['DOCRUN_STATE'] as string, 'knockd.service.pid'), 'utf8').trim();
    check(must(`ps -o user= -p ${pid}`).trim() === 'knockd', 'the daemon runs as knockd');
    const k = await runDoc({ file: 'runner', line: 0, text: 'knock --spa --key ~/.knock/key --door ssh server.example.org' }, rn);
    check(k.code === 0, `knock --spa: ${k.stderr}`);
    check(await waitProbe(pair, pair.serverV4, 22, true, 5000), 'the SPA knock opened tcp/22 through the unit-started daemon');
    ok('systemd/README install: the unit\'s daemon (user knockd, CAP_NET_RAW + CAP_NET_ADMIN) opened tcp/22 for an SPA knock');
  } finally {
    await pair.cleanup();
  }
}

async function main(): Promise<void> {
  const [what, tgz] = process.argv.slice(2);
  const top = process.env['KTS_SANDBOX_DIR'];
  if (!top) throw new Error('KTS_SANDBOX_DIR is not set (run test/package/readme.test.ts)');
  enterSandbox(join(top, 'layers'));
  const fw = firewall();
  mkdirSync(join(top, 'units'));
  const r0: RunEnv = {
    cwd: top,
    env: { PATH: `${shimDir}:/usr/local/bin:${process.env['PATH'] ?? '/usr/sbin:/usr/bin'}`, HOME: '/root', DOCRUN_STATE: join(top, 'units') },
  };
  if (what === 'npm-usage') await npmUsage(top, r0);
  else if (what === 'systemd-manual' && tgz) await systemdManual(top, r0, tgz);
  else throw new Error(`usage: readme-sandbox.js npm-usage | systemd-manual TGZ (got ${what})`);
  check(firewall() === fw, 'the host firewall is unchanged');
  ok('the host firewall is unchanged');
}

main().then(() => { process.stdout.write('readme-sandbox: all checks passed\n'); }, (e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
