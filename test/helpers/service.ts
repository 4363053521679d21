/**
 * A "guarded service" in the server namespace of a NetnsPair: a TCP listener that answers
 * 'ok\n', closed off by an iptables/ip6tables REJECT (tcp-reset) rule inside the server
 * namespace only. A knock door that inserts an ACCEPT rule for the knocker opens it; probe()
 * tells from the client namespace whether it is reachable.
 */
import type { ChildProcess } from 'node:child_process';
import type { NetnsPair } from './netns.js';

export interface GuardedService {
  port: number;
  family: 4 | 6;
  host: string;
  child: ChildProcess;
}

const LISTENER = `
const net = require('node:net');
const [host, port] = [process.argv[1], Number(process.argv[2])];
const srv = net.createServer((s) => { s.on('error', () => {}); s.end('ok\\n'); });
srv.on('error', (e) => { console.error(String(e)); process.exit(2); });
srv.listen({ host, port, ipv6Only: host.includes(':') }, () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
`;

function waitForLine(child: ChildProcess, re: RegExp, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    let errBuf = '';
    const timer = setTimeout(() => done(new Error(`${what}: no '${re.source}' within ${timeoutMs} ms; stderr: ${errBuf.trim()}`)), timeoutMs);
    const onOut = (d: Buffer) => { buf += d.toString(); if (re.test(buf)) done(); };
    const onErr = (d: Buffer) => { errBuf += d.toString(); };
    const onExit = (code: number | null) => done(new Error(`${what}: exited (${code}) before ready; stderr: ${errBuf.trim()}`));
    function done(e?: Error): void {
      clearTimeout(timer);
      child.stdout?.off('data', onOut);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (e) reject(e); else resolve();
    }
    child.stdout?.on('data', onOut);
    child.stderr?.on('data', onErr);
    child.on('exit', onExit);
  });
}

export { waitForLine };

/** Start the 'ok' listener on the server's address of `family` (no firewall rule). */
export async function startListener(pair: NetnsPair, port: number, family: 4 | 6): Promise<ChildProcess> {
  const host = family === 4 ? pair.serverV4 : pair.serverV6;
  const child = pair.spawn(pair.server, process.execPath, ['-e', LISTENER, host, String(port)]);
  await waitForLine(child, /listening/, 10000, `listener ${host}:${port}`);
  return child;
}

/** Start the listener and install the REJECT rule (server namespace only). */
export async function guardService(pair: NetnsPair, port: number, family: 4 | 6): Promise<GuardedService> {
  const host = family === 4 ? pair.serverV4 : pair.serverV6;
  const child = await startListener(pair, port, family);
  const tool = family === 4 ? 'iptables' : 'ip6tables';
  const r = await pair.run(pair.server, tool, ['-A', 'INPUT', '-p', 'tcp', '--dport', String(port), '-j', 'REJECT', '--reject-with', 'tcp-reset']);
  if (r.code !== 0) throw new Error(`${tool} in ${pair.server} failed: ${r.stderr.trim()}`);
  return { port, family, host, child };
}

const PROBE = `
const net = require('node:net');
const [host, port, ms] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const s = net.connect({ host, port });
const t = setTimeout(() => { s.destroy(); process.exit(3); }, ms);
let got = '';
s.on('data', (d) => { got += d; if (got.includes('ok')) { clearTimeout(t); s.destroy(); process.exit(0); } });
s.on('error', () => { clearTimeout(t); process.exit(1); });
s.on('close', () => { clearTimeout(t); process.exit(got.includes('ok') ? 0 : 1); });
`;

/** true when a TCP connection from the client namespace to host:port succeeds and reads 'ok'. */
export async function probe(pair: NetnsPair, host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  const r = await pair.run(pair.client, process.execPath, ['-e', PROBE, host, String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10000 });
  return r.code === 0;
}

/** Poll probe() until it returns `want` or `limitMs` passes; returns the last result. */
export async function waitProbe(pair: NetnsPair, host: string, port: number, want: boolean, limitMs: number): Promise<boolean> {
  const end = Date.now() + limitMs;
  let last = !want;
  while (Date.now() < end) {
    last = await probe(pair, host, port, 500);
    if (last === want) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  return last;
}
