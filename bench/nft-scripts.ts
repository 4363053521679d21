/**
 * Small programs bench/nft.ts runs inside the lab namespaces with `node -e` (argv after the code).
 * Each one is bounded in time and stops by itself.
 */

/**
 * Client: C workers open TCP connections to HOST:PORT back to back for MS milliseconds (each
 * attempt given 1 s); nothing listens there, so an admitted SYN is answered with a reset
 * (ECONNREFUSED) and a dropped one times out. One attempt = one SYN through the firewall's
 * input path and one reset back, with no server process and no TIME_WAIT state involved.
 * Prints {"ok":N,"fail":N,"ms":N} (ok = refused, i.e. admitted). argv: host port ms concurrency
 */
export const CONNECT_RATE = `
const net = require('node:net');
const [host, port, ms, conc] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4])];
let ok = 0, fail = 0;
const t0 = Date.now();
function one() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => { s.destroy(); fail++; resolve(); }, 1000);
    s.on('connect', () => { clearTimeout(t); fail++; s.destroy(); resolve(); });
    s.on('error', (e) => { clearTimeout(t); if (e.code === 'ECONNREFUSED') ok++; else fail++; resolve(); });
  });
}
async function worker() { while (Date.now() - t0 < ms) await one(); }
Promise.all(Array.from({ length: conc }, worker)).then(() => { console.log(JSON.stringify({ ok, fail, ms: Date.now() - t0 })); process.exit(0); });
`;

/**
 * Client: a connection attempt every 50 ms (given 400 ms) until one is dropped (times out) or
 * LIMIT ms pass; an admitted SYN is refused at once (nothing listens). Prints the wall time (ms
 * epoch) of the start of the first dropped attempt, or 'none'. argv: host port limitMs
 */
export const FIRST_CLOSED = `
const net = require('node:net');
const [host, port, limit] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const t0 = Date.now();
function one() {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 400);
    s.on('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.on('error', (e) => { clearTimeout(t); resolve(e.code === 'ECONNREFUSED'); });
  });
}
(async () => {
  while (Date.now() - t0 < limit) {
    const start = Date.now();
    if (!(await one())) { console.log(String(start)); process.exit(0); }
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log('none');
  process.exit(0);
})();
`;

/**
 * Server: run each argv vector given as JSON lines on stdin one after another with spawnSync
 * (as a daemon forking a firewall command would) and print the wall time of each in ms, or
 * 'fail <status> <stderr>'; stops after LIMIT ms. argv: limitMs
 */
export const TIME_COMMANDS = `
const { spawnSync } = require('node:child_process');
const limit = Number(process.argv[1]);
const t0 = Date.now();
const lines = require('node:fs').readFileSync(0, 'utf8').split('\\n').filter(Boolean);
for (const l of lines) {
  if (Date.now() - t0 > limit) break;
  const argv = JSON.parse(l);
  const s = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - s) / 1e6;
  console.log(r.status === 0 ? ms.toFixed(3) : 'fail ' + r.status + ' ' + (r.stderr || '').trim().slice(0, 200));
}
`;
