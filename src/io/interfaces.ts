/**
 * Local addresses of the capture interface (knockd-behaviour.md §2.2), read once by the caller.
 * Canonical text (core/ip.ts parseIp), zone ids dropped (fe80::1%eth0 → fe80::1, as knockd),
 * duplicates removed, IPv4 first then IPv6, each in discovery order.
 * `any` means every interface's addresses: knockd looks up an interface literally named "any",
 * finds none, and so no door without `target` can ever match under `-i any` (bug fixed here).
 */
import { networkInterfaces } from 'node:os';
import type { NetworkInterfaceInfo } from 'node:os';
import { parseIp } from '../core/ip.js';

export function localAddresses(iface: string, ipv6: boolean,
  table: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): string[] {
  const v4: string[] = [], v6: string[] = [];
  for (const [name, infos] of Object.entries(table)) {
    if (iface !== 'any' && name !== iface) continue;
    for (const info of infos ?? []) {
      const raw = info.address;
      const pct = raw.indexOf('%');
      const ip = parseIp(pct >= 0 ? raw.slice(0, pct) : raw);
      if (!ip) continue;
      if (ip.family === 4) { if (!v4.includes(ip.text)) v4.push(ip.text); }
      else if (ipv6 && !v6.includes(ip.text)) v6.push(ip.text);
    }
  }
  return [...v4, ...v6];
}
