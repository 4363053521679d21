/**
 * Checks of an installed / purged knockd-ts Debian package (test/package/deb-sandbox.ts).
 * Each throws with what it found; `ok` prints what passed.
 */
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export function ok(what: string): void { process.stdout.write(`ok - ${what}\n`); }

export function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`not ok - ${what}`);
}

export function sh(script: string, env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: r.stderr ?? (r.error?.message ?? '') };
}

export function must(script: string, env: Record<string, string> = {}): string {
  const r = sh(script, env);
  check(r.code === 0, `${script} (exit ${r.code}): ${(r.err || r.out).trim().slice(-2000)}`);
  return r.out;
}

/** The host's rules: what the package must never change. iptables -S has no counters. */
export function firewall(): string {
  return ['iptables -S', 'ip6tables -S', 'nft list ruleset'].map((c) => `# ${c}\n${sh(`${c} 2>&1`).out}`).join('');
}

function owner(path: string): string {
  return must(`stat -c '%U:%G %a' ${path}`).trim();
}

export const USER = 'knockd-ts';

export function checkInstalled(): void {
  const pw = must(`getent passwd ${USER}`).trim().split(':');
  check(Number(pw[2]) > 0 && Number(pw[2]) < 1000, `service user ${USER} is a system user (uid ${pw[2]})`);
  check(pw[5] === '/var/lib/knockd-ts' && pw[6] === '/usr/sbin/nologin', `home and shell of ${USER}: ${pw.join(':')}`);
  must(`getent group ${USER}`);
  ok(`service user and group ${USER} (uid ${pw[2]}, /usr/sbin/nologin)`);
  const want: Array<[string, string]> = [
    ['/etc/knockd-ts', 'root:root 755'], ['/etc/knockd-ts/knockd.conf', 'root:root 644'],
    ['/etc/knockd-ts/keys', `${USER}:${USER} 700`], ['/var/lib/knockd-ts', `${USER}:${USER} 700`],
    ['/var/log/knockd-ts', `${USER}:${USER} 750`], ['/etc/logrotate.d/knockd-ts', 'root:root 644'],
    ['/lib/systemd/system/knockd-ts.service', 'root:root 644'], ['/usr/sbin/knockd-ts', 'root:root 755'],
  ];
  for (const [p, o] of want) check(owner(p) === o, `${p} is ${o} (got ${owner(p)})`);
  ok('KeysDir, StateDir, log directory, config, unit, logrotate snippet: owners and modes');
  const conff = must(`dpkg-query -W -f='\${Conffiles}' ${USER}`);
  for (const f of ['/etc/knockd-ts/knockd.conf', '/etc/logrotate.d/knockd-ts']) check(conff.includes(f), `${f} is a conffile`);
  ok('conffiles: /etc/knockd-ts/knockd.conf, /etc/logrotate.d/knockd-ts');
  check(sh('systemctl is-enabled knockd-ts.service').out.trim() === 'disabled', 'the unit is installed but not enabled');
  check(sh(`pgrep -u ${USER}`).code !== 0, 'nothing runs as knockd-ts after install');
  ok('unit installed, not enabled, not started');
  if (existsSync('/usr/bin/systemd-analyze')) {
    const v = sh('systemd-analyze verify /lib/systemd/system/knockd-ts.service');
    check(v.code === 0 && v.err.trim() === '', `systemd-analyze verify of the installed unit: ${v.err}`);
    ok('systemd-analyze verify /lib/systemd/system/knockd-ts.service: no diagnostics');
  }
  for (const [sec, page] of [['1', 'knock-ts'], ['8', 'knockd-ts'], ['5', 'knockd-ts.conf']] as const) {
    const w = must(`man -w ${sec} ${page}`).trim();
    check(w === `/usr/share/man/man${sec}/${page}.${sec}.gz`, `man ${sec} ${page} -> ${w}`);
    const warn = sh(`MANWIDTH=80 man --warnings ${sec} ${page} 2>&1 >/dev/null`).out.trim();
    check(warn === '', `man ${sec} ${page} renders without warnings: ${warn}`);
  }
  ok('man pages knock-ts(1), knockd-ts(8), knockd-ts.conf(5)');
  check(/knockd-ts/.test(must('knock-ts --version')) && /knockd-ts/.test(must('knockd-ts --version')), 'knock-ts/knockd-ts --version');
  must('knockd-ts --check >/dev/null');
  check(sh('KNOCKD_TS_CODE_CACHE=report knock-ts --version').err.trim() === 'code-cache: accepted', 'knock-ts starts from its V8 code cache');
  must('logrotate -d /etc/logrotate.d/knockd-ts 2>/dev/null');
  ok('knock-ts --version, knockd-ts --version, knockd-ts --check (the shipped config), logrotate -d');
}

/** Debian's knockd next to ours: its files still its own and unchanged, both programs run. */
export function checkCoinstalled(knockdVerifyBefore: string): void {
  check(must('dpkg -S /usr/sbin/knockd').startsWith('knockd:'), '/usr/sbin/knockd belongs to Debian knockd');
  check(must('dpkg -S /usr/bin/knock').startsWith('knockd:'), '/usr/bin/knock belongs to Debian knockd');
  check(sh('dpkg -V knockd').out === knockdVerifyBefore, 'dpkg -V knockd: as before our install');
  check(must('dpkg -V knockd-ts').trim() === '', 'dpkg -V knockd-ts: our files as shipped');
  check(!/knockd-ts/.test(sh('/usr/sbin/knockd -V 2>&1').out) && /knockd/.test(sh('/usr/sbin/knockd -V 2>&1').out), 'Debian knockd -V is Debian\'s');
  check(!/knockd-ts/.test(sh('/usr/bin/knock -V 2>&1').out), 'Debian knock -V is Debian\'s');
  check(must('man -w knockd').trim() === '/usr/share/man/man1/knockd.1.gz', 'man knockd is still Debian knockd(1)');
  ok('co-installed with Debian knockd: its /usr/sbin/knockd, /usr/bin/knock and man pages untouched; both run');
}

export function checkPurged(adminFile: string): void {
  check(sh(`getent passwd ${USER}`).code !== 0 && sh(`getent group ${USER}`).code !== 0, 'service user and group removed');
  for (const p of ['/etc/knockd-ts/keys', '/etc/knockd-ts/knockd.conf', '/var/lib/knockd-ts', '/var/log/knockd-ts', '/usr/lib/knockd-ts',
    '/lib/systemd/system/knockd-ts.service', '/etc/logrotate.d/knockd-ts', '/usr/sbin/knockd-ts', '/usr/bin/knock-ts',
    '/etc/systemd/system/multi-user.target.wants/knockd-ts.service']) {
    check(!existsSync(p), `${p} is gone after purge`);
  }
  check(existsSync(adminFile) && statSync(adminFile).isFile(), `the admin's own ${adminFile} is kept`);
  check(sh('dpkg -s knockd-ts').code !== 0, 'dpkg no longer knows knockd-ts');
  ok('purge: user, group, KeysDir, StateDir, logs, config, unit, programs gone; the admin\'s own file kept');
}
