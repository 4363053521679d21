/**
 * Helpers for the nftables e2e tests (test/e2e/nft-*.test.ts): a skip reason when nft cannot
 * run, the ruleset from `knockd firewall --print nft` loaded into the server namespace, a
 * continuous TCP probe loop from the client namespace, and a UDP "is it silently dropped" check.
 * Everything runs inside the NetnsPair's namespaces.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason } from './root.js';
import { runCmd, type NetnsPair } from './netns.js';
import { bin } from './paths.js';

export function nftSkipReason(): string | undefined {
  const base = e2eSkipReason();
  if (base) return base;
  const r = spawnSync('nft', ['--version'], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 ? undefined : `'nft' does not run: ${(r.stderr || r.error?.message || '').trim()}`;
}

/** `knockd firewall --print nft -c conf` → `nft -f` in the server namespace; returns the text. */
export async function loadRuleset(pair: NetnsPair, conf: string, dir: string): Promise<string> {
  const p = await runCmd(process.execPath, [bin('knockd'), 'firewall', '--print', 'nft', '-c', conf]);
  if (p.code !== 0) throw new Error(`knockd firewall --print nft failed (${p.code}): ${p.stderr}`);
  const file = join(dir, 'ruleset.nft');
  writeFileSync(file, p.stdout);
  const r = await pair.run(pair.server, 'nft', ['-f', file]);
  if (r.code !== 0) throw new Error(`nft -f failed (${r.code}): ${r.stderr}`);
  return p.stdout;
}

export interface Attempt { start: number; end: number; ok: boolean }

const LOOP = `
const net = require('node:net');
const [host, port, interval, tmo, maxMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
let stop = false;
process.on('SIGTERM', () => { stop = true; });
const t0 = Date.now();
function attempt() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let got = '';
    const done = (ok) => { clearTimeout(t); s.destroy(); resolve(ok); };
    const t = setTimeout(() => done(false), tmo);
    s.on('data', (d) => { got += d; if (got.includes('ok')) done(true); });
    s.on('error', () => done(false));
    s.on('close', () => done(got.includes('ok')));
  });
}
(async () => {
  console.log('started');
  while (!stop && Date.now() - t0 < maxMs) {
    const start = Date.now();
    const ok = await attempt();
    console.log(start + ' ' + Date.now() + ' ' + (ok ? 1 : 0));
    await new Promise((r) => setTimeout(r, interval));
  }
  process.exit(0);
})();
`;

/** TCP connects from the client namespace every `intervalMs`, each given `attemptMs`; stops by itself after `maxMs`. */
export class ProbeLoop {
  readonly #child: ChildProcess;
  readonly #attempts: Attempt[] = [];
  readonly #exited: Promise<void>;
  #buf = '';
  #started!: Promise<void>;

  constructor(pair: NetnsPair, host: string, port: number, o: { intervalMs?: number; attemptMs?: number; maxMs?: number } = {}) {
    this.#child = pair.spawn(pair.client, process.execPath, ['-e', LOOP, host, String(port), String(o.intervalMs ?? 40), String(o.attemptMs ?? 800), String(o.maxMs ?? 60_000)]);
    this.#exited = new Promise((r) => this.#child.once('exit', () => r()));
    this.#started = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('probe loop did not start within 10 s')), 10_000);
      this.#child.stdout?.on('data', (d: Buffer) => {
        this.#buf += d.toString();
        let i;
        while ((i = this.#buf.indexOf('\n')) >= 0) {
          const line = this.#buf.slice(0, i);
          this.#buf = this.#buf.slice(i + 1);
          if (line === 'started') { clearTimeout(t); resolve(); continue; }
          const [a, b, c] = line.split(' ').map(Number);
          if (a !== undefined && b !== undefined) this.#attempts.push({ start: a, end: b, ok: c === 1 });
        }
      });
    });
  }

  started(): Promise<void> { return this.#started; }
  get attempts(): readonly Attempt[] { return this.#attempts; }

  /** Wait until the last finished attempt has `ok === want` (and started after `after`), or `limitMs` passes. */
  async waitFor(want: boolean, limitMs: number, after = 0): Promise<boolean> {
    const end = Date.now() + limitMs;
    while (Date.now() < end) {
      const last = this.#attempts[this.#attempts.length - 1];
      if (last && last.start >= after && last.ok === want) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  async stop(): Promise<Attempt[]> {
    try { this.#child.kill('SIGTERM'); } catch { /* gone */ }
    await Promise.race([this.#exited, new Promise((r) => setTimeout(r, 3000))]);
    return [...this.#attempts];
  }
}

/** Send two UDP datagrams from the client namespace: 'quiet' if no ICMP error came back, else the error code. */
export async function udpAnswer(pair: NetnsPair, host: string, port: number): Promise<string> {
  const code = `
const dgram = require('node:dgram');
const s = dgram.createSocket(process.argv[1].includes(':') ? 'udp6' : 'udp4');
s.on('error', (e) => { console.log(e.code); process.exit(0); });
s.connect(Number(process.argv[2]), process.argv[1], () => {
  s.send('x');
  setTimeout(() => s.send('x'), 300);
  setTimeout(() => { console.log('quiet'); process.exit(0); }, 1200);
});`;
  const r = await pair.run(pair.client, process.execPath, ['-e', code, host, String(port)], { timeoutMs: 10_000 });
  return r.stdout.trim();
}
