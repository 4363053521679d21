/**
 * Runs inside the client namespace (`ip netns exec <cli> node dist/bench/worker.js MODE JSON`).
 *
 *   latency JSON: for each run sleep a random 0.3–0.8 s (de-correlates from daemon poll phases),
 *     take t0, run the knock client, then try TCP connects to host:port back to back until one
 *     succeeds (tOpen); afterwards run the reset command and wait for the port to close again.
 *     Prints one JSON line: { runs: [{ t0, t1, tOpen, code }], clockErrMs }.
 *     All times are wall-clock ms since the epoch (sub-ms), comparable with tcpdump -tt.
 *   flood JSON: see flood.ts (udpFlood), prints { sent, ms }.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { udpFlood, type FloodSpec } from './flood.js';

interface LatencySpec {
  host: string;
  port: number;
  runs: number;
  warmup: number;
  client: string[];
  clientEnv?: Record<string, string>;
  reset: string[];
  openTimeoutMs: number;
  sleepMinMs: number;
  sleepMaxMs: number;
}

/** Wall clock calibrated once against Date.now() at a millisecond edge (error well below 0.1 ms). */
function makeClock(): () => number {
  const start = Date.now();
  let now = Date.now();
  while (now === start) now = Date.now();
  const offset = now - performance.now();
  return () => offset + performance.now();
}
const wall = makeClock();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function tryConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 500);
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(t); s.destroy(); resolve(false); });
  });
}

function runCmd(argv: string[], env?: Record<string, string>): Promise<number | null> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    const child = spawn(cmd as string, args, { stdio: 'ignore', env: { ...process.env, ...(env ?? {}) } });
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', () => { clearTimeout(t); resolve(-1); });
    child.on('exit', (code) => { clearTimeout(t); resolve(code); });
  });
}

async function waitClosed(host: string, port: number, ms: number): Promise<boolean> {
  const end = wall() + ms;
  while (wall() < end) {
    if (!(await tryConnect(host, port))) return true;
    await sleep(10);
  }
  return false;
}

async function latency(spec: LatencySpec): Promise<void> {
  if (await tryConnect(spec.host, spec.port)) {
    await runCmd(spec.reset);
    if (!(await waitClosed(spec.host, spec.port, 3000))) throw new Error('protected port is open before the first knock and reset does not close it');
  }
  const runs: Array<{ t0: number; t1: number; tOpen: number | null; code: number | null; warmup: boolean }> = [];
  for (let i = 0; i < spec.warmup + spec.runs; i++) {
    await sleep(spec.sleepMinMs + Math.random() * (spec.sleepMaxMs - spec.sleepMinMs));
    const t0 = wall();
    // Probe from the moment the client starts, not after it exits: a Node client may still be
    // tearing down when the door is already open, and the daemon-side figure must not include
    // that. Probes go to the closed service port (RST), which no door or filter looks at.
    let t1: number | null = null;
    let code: number | null = null;
    const client = runCmd(spec.client, spec.clientEnv).then((c) => { code = c; t1 = wall(); });
    let tOpen: number | null = null;
    // the per-knock limit counts from the client's exit, so a client slowed down by a loaded
    // machine does not count against the daemon
    const mult = i < spec.warmup ? 3 : 1;
    while (t1 === null || wall() < (t1 as number) + spec.openTimeoutMs * mult) {
      if (await tryConnect(spec.host, spec.port)) { tOpen = wall(); break; }
    }
    await client;
    runs.push({ t0, t1: t1 as unknown as number, tOpen, code, warmup: i < spec.warmup });
    if (tOpen !== null) {
      await runCmd(spec.reset);
      await waitClosed(spec.host, spec.port, 3000);
    }
  }
  process.stdout.write(JSON.stringify({ runs: runs.filter((r) => !r.warmup) , warmupOpened: runs.filter((r) => r.warmup).every((r) => r.tOpen !== null) }) + '\n');
}

const [mode, json] = process.argv.slice(2);
const spec: unknown = JSON.parse(json ?? '{}');
if (mode === 'latency') await latency(spec as LatencySpec);
else if (mode === 'flood') process.stdout.write(JSON.stringify(await udpFlood(spec as FloodSpec)) + '\n');
else { process.stderr.write(`unknown mode ${mode}\n`); process.exit(64); }
