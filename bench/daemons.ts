/**
 * The three daemons under test, each set up inside the lab's server namespace:
 * Debian knockd 0.8 (+ Debian knock client), fwknopd 2.6.10 (+ fwknop client; pcap and
 * UDP-server modes, native iptables), and ours (bin/knockd + bin/knock, sequence and SPA).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Lab } from './netns.js';
import { Bg, run, sleep } from './util.js';
import { pcapUdpPayloads } from './capture.js';

export const SEQ = [7000, 8000, 9000] as const;
export const SPA_PORT = 62201;
export const SERVICE_PORT = 2222;
export const SEQ_FILTER = `tcp and (${SEQ.map((p) => `dst port ${p}`).join(' or ')})`;
export const SPA_FILTER = `udp and dst port ${SPA_PORT}`;

/** The protected service: REJECT (fast RST) until a daemon inserts an ACCEPT, and a listener. */
export async function setupService(lab: Lab): Promise<Bg> {
  await lab.mustExec('srv', 'iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', String(SERVICE_PORT), '-j', 'REJECT', '--reject-with', 'tcp-reset']);
  const js = `require('net').createServer(s=>s.destroy()).listen(${SERVICE_PORT},'${lab.srvIp}',()=>console.log('listening'))`;
  const bg = lab.bg('srv', 'service', process.execPath, ['-e', js]);
  for (let i = 0; i < 50 && !/listening/.test(bg.logText()); i++) await sleep(100);
  if (!/listening/.test(bg.logText())) throw new Error(`service did not start: ${bg.logText()}`);
  return bg;
}

/** Remove every ACCEPT our start commands may have inserted for the client (run from the client ns). */
export function resetSeqRule(lab: Lab): string[] {
  return ['ip', 'netns', 'exec', lab.srv, 'sh', '-c',
    `while iptables -D INPUT -s ${lab.cliIp} -p tcp --dport ${SERVICE_PORT} -j ACCEPT 2>/dev/null; do :; done`];
}
/** The start command every daemon under test runs (%IP% = the knocking address). */
export const START_CMD = `/usr/sbin/iptables -I INPUT 1 -s %IP% -p tcp --dport ${SERVICE_PORT} -j ACCEPT`;
const startCmd = START_CMD;

// ---- knockd ------------------------------------------------------------------------------

/** First line with a version number; HOME is a throw-away directory (fwknop writes rc files there). */
export async function version(cmd: string, args: string[]): Promise<string> {
  const home = mkdtempSync(join(tmpdir(), 'bh8-ver-'));
  try {
    const r = await run(cmd, args, { timeoutMs: 10_000, env: { ...process.env, HOME: home } });
    return (r.stdout + r.stderr).split('\n').find((l) => /\d+\.\d+/.test(l) && !/rc file/.test(l))?.trim() ?? 'unknown';
  } catch { return 'not installed'; } finally { rmSync(home, { recursive: true, force: true }); }
}

/** `logFile`: where knockd logs (default <work>/knockd.log; the classic flood scenario passes a FIFO). */
export function startKnockd(lab: Lab, logFile = lab.path('knockd.log')): Bg {
  const conf = lab.file('knockd.conf', [
    '[options]',
    `    LogFile = ${logFile}`,
    '[bench]',
    `    sequence = ${SEQ.join(',')}`,
    '    seq_timeout = 60',
    '    tcpflags = syn',
    `    start_command = ${startCmd}`,
    '',
  ].join('\n'));
  return lab.bg('srv', 'knockd', 'knockd', ['-c', conf, '-i', lab.vethSrv]);
}

export const knockClient = (lab: Lab): string[] => ['knock', lab.srvIp, ...SEQ.map(String)];

// ---- fwknopd -----------------------------------------------------------------------------

export interface Fwknop { home: string; client: string[]; env: Record<string, string>; reset: string[] }

export async function setupFwknop(lab: Lab): Promise<Fwknop> {
  const home = lab.path('fwhome');
  mkdirSync(home, { mode: 0o700 });
  mkdirSync(lab.path('fwrun'), { mode: 0o700 });
  const env = { HOME: home };
  // runs in the client namespace: even a mistaken send could not leave it
  await lab.mustExec('cli', 'env', [`HOME=${home}`, 'fwknop', '-A', `tcp/${SERVICE_PORT}`, '-a', lab.cliIp, '-D', lab.srvIp,
    '--use-hmac', '--key-gen', '--save-rc-stanza', '-n', 'spasrv']);
  const rc = readFileSync(join(home, '.fwknoprc'), 'utf8');
  const key = /^KEY_BASE64\s+(\S+)/m.exec(rc)?.[1];
  const hkey = /^HMAC_KEY_BASE64\s+(\S+)/m.exec(rc)?.[1];
  if (!key || !hkey) throw new Error('fwknop --key-gen wrote no keys');
  lab.file('fwknopd.conf', [
    `PCAP_INTF                ${lab.vethSrv};`,
    `PCAP_FILTER              udp port ${SPA_PORT};`,
    `UDPSERV_PORT             ${SPA_PORT};`,
    'ENABLE_SPA_PACKET_AGING  Y;',
    'MAX_SPA_PACKET_AGE       120;',
    'ENABLE_DIGEST_PERSISTENCE Y;',
    `FWKNOP_RUN_DIR           ${lab.path('fwrun')};`,
    '',
  ].join('\n'));
  lab.file('access.conf', [
    `SOURCE                   ${lab.cliIp.replace(/\.\d+$/, '.0')}/24`,
    `OPEN_PORTS               tcp/${SERVICE_PORT}`,
    'REQUIRE_SOURCE_ADDRESS   Y',
    `KEY_BASE64               ${key}`,
    `HMAC_KEY_BASE64          ${hkey}`,
    'HMAC_DIGEST_TYPE         SHA256',
    'FW_ACCESS_TIMEOUT        300',
    'MAX_FW_TIMEOUT           300',
    '',
  ].join('\n'));
  return {
    home, env,
    client: ['fwknop', '-n', 'spasrv', '--no-save-args'],
    reset: ['ip', 'netns', 'exec', lab.srv, 'iptables', '-F', 'FWKNOP_INPUT'],
  };
}

export async function startFwknopd(lab: Lab, mode: 'pcap' | 'udp'): Promise<Bg> {
  const args = ['-f', ...(mode === 'udp' ? ['--udp-server'] : []), '-c', lab.path('fwknopd.conf'), '-a', lab.path('access.conf'),
    '-d', lab.path('fwrun/digest.cache'), '-p', lab.path('fwrun/fwknopd.pid'), '-i', lab.vethSrv];
  const bg = lab.bg('srv', `fwknopd-${mode}`, 'fwknopd', args);
  await sleep(1000);
  if (!bg.alive) throw new Error(`fwknopd (${mode}) exited: ${bg.logText().slice(0, 400)}`);
  return bg;
}

// ---- ours ----------------------------------------------------------------------------------

export interface Ours { knockd: string; knock: string; keyFile: string; conf: (mode: 'pcap' | 'socket', logFile?: string) => string }

/** Check that bin/knockd and bin/knock work; returns the reason when they do not. */
export async function probeOurs(binDir: string): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  const knockd = join(binDir, 'knockd'), knock = join(binDir, 'knock');
  if (!existsSync(knockd) || !existsSync(knock)) return { ok: false, reason: 'bin/knockd or bin/knock missing' };
  const r = await run(process.execPath, [knockd, '--version'], { timeoutMs: 15_000 });
  if (r.code !== 0) return { ok: false, reason: `node bin/knockd --version exited ${r.code}: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}` };
  return { ok: true, version: (r.stdout.trim().split('\n')[0] ?? '').trim() };
}

export async function setupOurs(lab: Lab, binDir: string): Promise<Ours> {
  const knockd = join(binDir, 'knockd'), knock = join(binDir, 'knock');
  const keysDir = lab.path('keys'), stateDir = lab.path('state'), keyFile = lab.path('client.key');
  mkdirSync(keysDir, { mode: 0o700 });
  mkdirSync(stateDir, { mode: 0o700 });
  const conf = (mode: 'pcap' | 'socket', logFile = lab.path(`ours-${mode}.knockd.log`)): string => lab.file(`ours-${mode}.conf`, [
    '[options]',
    `    LogFile = ${logFile}`,
    `    SPAPort = ${SPA_PORT}`,
    `    KeysDir = ${keysDir}`,
    `    StateDir = ${stateDir}`,
    '    SPAWindow = 60',
    `    SPAMode = ${mode}`,
    '[bench]',
    `    sequence = ${SEQ.join(',')}`,
    '    seq_timeout = 60',
    '    tcpflags = syn',
    '    spa = yes',
    `    start_command = ${startCmd}`,
    '',
  ].join('\n'));
  const c = conf('pcap');
  const kg = await run(process.execPath, [knock, '--keygen', '--key', keyFile], { timeoutMs: 30_000 });
  if (kg.code !== 0) throw new Error(`knock --keygen failed: ${(kg.stderr || kg.stdout).trim()}`);
  const pubLine = existsSync(`${keyFile}.enrol`) ? readFileSync(`${keyFile}.enrol`, 'utf8').trim()
    : (kg.stdout.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? '').trim();
  const add = await run(process.execPath, [knockd, '-c', c, 'keys', 'add', 'bench', pubLine], { timeoutMs: 30_000 });
  if (add.code !== 0) throw new Error(`knockd keys add failed: ${(add.stderr || add.stdout).trim()}`);
  return { knockd, knock, keyFile, conf };
}

/** `opt.logFile`: the LogFile (default <work>/ours-MODE.knockd.log); `opt.nodeArgs`/`opt.env`: for bench instrumentation. */
export async function startOurs(lab: Lab, o: Ours, mode: 'pcap' | 'socket', opt: { logFile?: string; nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<Bg> {
  const bg = lab.bg('srv', `ours-${mode}`, process.execPath, [...(opt.nodeArgs ?? []), o.knockd, '-c', o.conf(mode, opt.logFile), '-i', lab.vethSrv], opt.env);
  await sleep(1500);
  if (!bg.alive) throw new Error(`our knockd (${mode}) exited: ${bg.logText().slice(0, 400)}`);
  return bg;
}

export const oursSeqClient = (lab: Lab, o: Ours): string[] => [process.execPath, o.knock, lab.srvIp, ...SEQ.map(String)];
export const oursSpaClient = (lab: Lab, o: Ours): string[] => [process.execPath, o.knock, '--spa', '--key', o.keyFile, '--door', 'bench', lab.srvIp];

/** Capture one real SPA datagram of our client (for the forgery template). */
export async function sampleSpa(lab: Lab, o: Ours): Promise<Buffer | undefined> {
  const file = lab.path('spa-sample.pcap');
  const cap = lab.bg('srv', 'spa-sample-tcpdump', 'tcpdump', ['-i', lab.vethSrv, '-n', '-U', '-c', '1', '-w', file, `src host ${lab.cliIp} and ${SPA_FILTER}`], undefined, { cpu: 'cli' });
  for (let i = 0; i < 30 && !/listening on/.test(cap.logText()); i++) await sleep(100);
  await lab.exec('cli', oursSpaClient(lab, o)[0] as string, oursSpaClient(lab, o).slice(1), { timeoutMs: 15_000 });
  await cap.wait(3000);
  await cap.stop('SIGINT');
  await lab.exec('cli', resetSeqRule(lab)[0] as string, resetSeqRule(lab).slice(1));
  return pcapUdpPayloads(file)[0];
}
