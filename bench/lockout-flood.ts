/**
 * Flooder for bench/lockout.ts (runs in the client namespace): datagrams that name a real key id
 * and carry a mac1 computed the only way an attacker who holds the key's PUBLIC line can compute
 * it (keys/id.ts mac1Key(public)), with a random signature: for a v1 record they pass mac1 and
 * cost a signature check from the key's budget; for a v2 record they fail mac1.
 *
 *   node lockout-flood.js SERVER PORT PUBLIC_B64 VERSION PPS SECONDS ALLOW_IP
 *
 * Bounded by count (PPS × SECONDS) and by time (SECONDS + 2); prints "sent N in S s".
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { parseIp, type Ip } from '../src/core/ip.js';
import { mac1Key } from '../src/core/keys/id.js';
import { encodeRequest } from '../src/core/spa/wire.js';

const [server, portText, pubB64, versionText, ppsText, secondsText, allowText] = process.argv.slice(2);
const port = Number(portText), pps = Number(ppsText), seconds = Number(secondsText), version = Number(versionText) === 2 ? 2 : 1;
const publicKey = new Uint8Array(Buffer.from(pubB64 ?? '', 'base64'));
const serverIp = parseIp(server ?? '') as Ip, allowIp = parseIp(allowText ?? '') as Ip;
if (!serverIp || !allowIp || publicKey.length !== 32 || !(pps > 0) || !(seconds > 0)) {
  process.stderr.write('usage: lockout-flood SERVER PORT PUBLIC_B64 VERSION PPS SECONDS ALLOW_IP\n');
  process.exit(64);
}
const k1 = mac1Key(publicKey);   // all the attacker can derive from the public line
const forge = (): Uint8Array => encodeRequest(
  { timestampMs: Date.now(), nonce: new Uint8Array(randomBytes(16)), ttl: 0, allowIp, serverIp, door: 'ssh', version },
  { alg: 'ed25519', publicKey, mac1Key: k1, sign: () => new Uint8Array(randomBytes(64)) },
);
const sock = createSocket(serverIp.family === 6 ? 'udp6' : 'udp4');
const total = Math.round(pps * seconds);
const t0 = Date.now();
let sent = 0;
const hardStop = setTimeout(() => finish(), (seconds + 2) * 1000);
const tick = setInterval(() => {
  // catch up to the schedule (timers are coarse), never beyond the total
  const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * pps));
  while (sent < due) { sock.send(forge(), port, server); sent++; }
  if (sent >= total) finish();
}, 5);
function finish(): void {
  clearInterval(tick);
  clearTimeout(hardStop);
  process.stdout.write(`sent ${sent} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  sock.close();
}
