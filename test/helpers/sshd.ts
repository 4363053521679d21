/**
 * A private OpenSSH server for end-to-end tests and the benchmark: Debian's /usr/sbin/sshd, run
 * by the test in the server namespace of a NetnsPair on its own port, with its own host key,
 * authorized key and sshd_config inside a work directory (never the host's sshd or its config).
 * Also writes an ssh client config (`ssh -F`) whose host `myserver` goes through
 * `knock myserver -W %h:%p` and whose host `plain` connects directly.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { runCmd, type NetnsPair } from './netns.js';
import { bin } from './paths.js';

export const SSHD = '/usr/sbin/sshd';

export function sshSkipReason(): string | undefined {
  for (const f of [SSHD, '/usr/bin/ssh', '/usr/bin/ssh-keygen', '/usr/bin/scp']) {
    if (!existsSync(f)) return `${f} not installed (Debian openssh-server/openssh-client; scripts/setup.sh installs them)`;
  }
  return undefined;
}

export interface TestSshd {
  child: ChildProcess; host: string; port: number;
  /** ssh -F file: Host myserver (ProxyCommand knock), Host plain (direct) */
  clientConfig: string;
  /** HOME for ssh/knock: holds .knock/config (profile myserver) and the knock key */
  home: string;
  env: Record<string, string>;
}

async function must(cmd: string, args: string[]): Promise<void> {
  const r = await runCmd(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
}

/**
 * Start sshd on host:port in the pair's server namespace. `knockKey` is the knock client key
 * (enrolled by the caller); `profile` is extra lines for the knock profile.
 */
export async function startSshd(pair: NetnsPair, dir: string, host: string, port: number, knockKey: string, profile = ''): Promise<TestSshd> {
  const d = join(dir, 'ssh');
  mkdirSync(d, { recursive: true, mode: 0o700 });
  // sshd's privilege-separation directory (Debian creates it when its service starts)
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kts-test-host', '-f', join(d, 'host_key')]);
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'kts-test-user', '-f', join(d, 'id_ed25519')]);
  writeFileSync(join(d, 'authorized_keys'), readFileSync(join(d, 'id_ed25519.pub')), { mode: 0o600 });
  writeFileSync(join(d, 'sshd_config'), [
    `Port ${port}`, `ListenAddress ${host}`, `HostKey ${join(d, 'host_key')}`, `PidFile ${join(d, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(d, 'authorized_keys')}`, 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password', 'UsePAM no', 'StrictModes no', 'PrintMotd no', 'PrintLastLog no',
    'Subsystem sftp internal-sftp', 'LogLevel ERROR', 'MaxStartups 100', '',
  ].join('\n'));
  const hostKey = readFileSync(join(d, 'host_key.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  writeFileSync(join(d, 'known_hosts'), `myserver ${hostKey}\nplain ${hostKey}\n`);
  const common = [
    `    HostName ${host}`, `    Port ${port}`, '    User root', `    IdentityFile ${join(d, 'id_ed25519')}`, '    IdentitiesOnly yes',
    `    UserKnownHostsFile ${join(d, 'known_hosts')}`, '    GlobalKnownHostsFile /dev/null', '    StrictHostKeyChecking yes',
    '    BatchMode yes', '    ConnectTimeout 10', '    LogLevel ERROR',
  ];
  // The three lines a user writes (Host, HostName, ProxyCommand); the rest makes the test hermetic.
  const knock = `${process.execPath} ${bin('knock')}`;
  writeFileSync(join(d, 'ssh_config'), [
    'Host myserver', '    HostKeyAlias myserver', `    ProxyCommand ${knock} myserver -W %h:%p`, ...common,
    'Host plain', '    HostKeyAlias plain', ...common, '',
  ].join('\n'));
  const home = join(d, 'home');
  mkdirSync(join(home, '.knock'), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, '.knock', 'config'), `[myserver]\nhost = ${host}\nkey = ${knockKey}\n${profile}`, { mode: 0o600 });
  const child = pair.spawn(pair.server, SSHD, ['-D', '-e', '-f', join(d, 'sshd_config')]);
  let err = '';
  child.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
  // ready when the port accepts from inside the server namespace (bounded by time and by exit)
  const end = Date.now() + 10000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${err.trim()}`);
    const r = await pair.run(pair.server, process.execPath, ['-e',
      `const s=require('net').connect(${port},'${host}');s.on('connect',()=>process.exit(0));s.on('error',()=>process.exit(1));`]);
    if (r.code === 0) break;
    if (Date.now() > end) throw new Error(`sshd did not listen on ${host}:${port}: ${err.trim()}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  return { child, host, port, clientConfig: join(d, 'ssh_config'), home, env: { HOME: home } };
}
