/**
 * Network errors as the user should see them: the errno name and the system's text
 * ("ENETUNREACH: network is unreachable"), never a secondary error from using a socket that
 * failed. Anything that is not a system error keeps its message.
 */
import { getSystemErrorMap } from 'node:util';

export function netErrorText(e: unknown): string {
  const err = e as NodeJS.ErrnoException | undefined;
  if (err && typeof err.errno === 'number') {
    const known = getSystemErrorMap().get(err.errno);
    if (known) return `${known[0]}: ${known[1]}`;
  }
  if (err && typeof err.code === 'string' && /^E[A-Z0-9]+$/.test(err.code)) {
    for (const [name, text] of getSystemErrorMap().values()) if (name === err.code) return `${name}: ${text}`;
    return err.code;
  }
  return String((err as Error | undefined)?.message ?? e);
}

/** What to check for a network error on the way to the server, or '' when nothing useful. */
export function netErrorHint(e: unknown): string {
  switch ((e as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENETUNREACH': return 'no route to that network: check the address, -4/-6, and that this machine is online';
    case 'EHOSTUNREACH': return 'host unreachable: check the address and any firewall between here and the server';
    case 'EADDRNOTAVAIL': return 'no local address of that family: check -4/-6';
    case 'EAFNOSUPPORT': return 'this machine has no stack of that address family: check -4/-6';
    default: return '';
  }
}
