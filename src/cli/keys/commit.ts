/**
 * How every `knockd keys` change is made: open the audit log (so a change is never made that
 * cannot be audited) → change KeysDir → append the audit record naming who ran it → tell the
 * running daemon and wait until it acknowledges the new key-directory revision
 * (io/keyring-ack.ts), so "revoked" means "in force". Exits non-zero (ERR_DAEMON) when a
 * running daemon has not applied it in time; says so when no daemon is running.
 */
import { statSync } from 'node:fs';
import { userInfo } from 'node:os';
import type { Actor, KeyChangeEvent, KeyFields } from '../../core/audit/events.js';
import { AppError } from '../../core/errors.js';
import type { KeyRecord } from '../../core/keys/record.js';
import { printable } from '../../core/text.js';
import { openAuditAppend, type AuditAppender } from '../../io/audit-append.js';
import { waitForAck } from '../../io/keyring-ack.js';
import { keyringRevision, loadKeyring } from '../../io/keystore.js';
import type { TrustMode } from '../../io/safe-file.js';
import { refusedWarnings } from './view.js';

export interface CommitContext {
  readonly keysDir: string;
  readonly stateDir?: string;
  readonly auditLog?: string;
  readonly trust: TrustMode;
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  /** Signals the running daemon; returns its pid, or undefined when none runs. */
  readonly notifyDaemon?: () => number | undefined;
  readonly ackTimeoutMs: number;
  readonly now: () => number;
  readonly actor: Actor;
}

export interface Change {
  readonly event: KeyChangeEvent['event'];
  readonly rec: KeyRecord;
  readonly fields?: KeyFields;
  readonly previous?: KeyFields;
}

/** The invoking user (the effective user, and the sudo user behind root). */
export function currentActor(): Actor {
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : -1;
  let user = `uid ${uid}`;
  try { user = userInfo().username; } catch { /* no passwd entry */ }
  const sudoUser = process.env['SUDO_USER'], sudoUid = Number(process.env['SUDO_UID']);
  return { user, uid, ...(sudoUser ? { sudoUser } : {}), ...(sudoUser && Number.isInteger(sudoUid) ? { sudoUid } : {}) };
}

/** The KeysDir's owner: a missing audit log directory is created for the same (service) user. */
function keysDirOwner(dir: string): { uid: number; gid: number } | undefined {
  try { const st = statSync(dir); return { uid: st.uid, gid: st.gid }; } catch { return undefined; }
}

/** Run `apply` (the change to KeysDir) audited, then make sure the daemon has it. */
export async function commit(ctx: CommitContext, change: Change, apply: () => void): Promise<void> {
  let audit: AuditAppender | undefined;
  if (ctx.auditLog !== undefined) {
    try { audit = openAuditAppend(ctx.auditLog, ctx.trust, keysDirOwner(ctx.keysDir)); } catch (e) {
      if (e instanceof AppError) throw new AppError(e.code, `${e.message}; nothing was changed (every key change is audited)`, { cause: e });
      throw e;
    }
  }
  try {
    apply();
    audit?.append({
      event: change.event, key: change.rec.name, keyId: change.rec.id, by: ctx.actor,
      ...(change.fields ? { fields: change.fields } : {}), ...(change.previous ? { previous: change.previous } : {}),
    }, ctx.now());
  } finally {
    audit?.close();
  }
  await applied(ctx);
}

async function applied(ctx: CommitContext): Promise<void> {
  const pid = ctx.notifyDaemon?.();
  if (pid === undefined || ctx.stateDir === undefined) {
    ctx.out(pid === undefined ? 'no knockd is running: the change applies when it starts\n'
      : `signalled knockd (pid ${pid}); no StateDir given, so whether it applied the change is not checked\n`);
    const own = safeLoad(ctx);
    if (own) ctx.err(refusedWarnings(own));
    return;
  }
  const revision = keyringRevision(ctx.keysDir);
  const r = await waitForAck(ctx.stateDir, { revision, pid, timeoutMs: ctx.ackTimeoutMs, mode: ctx.trust });
  if (r.applied) {
    ctx.out(`knockd (pid ${pid}) applied it: ${r.ack.keys} key(s) in force (key directory revision ${revision.slice(0, 12)})\n`);
    ctx.err(refusedWarnings(r.ack.refused, 'knockd '));
    return;
  }
  const own = safeLoad(ctx);
  if (own) ctx.err(refusedWarnings(own));
  const seen = r.ack ? `; it last applied revision ${r.ack.revision.slice(0, 12)} at ${new Date(r.ack.loadedAt).toISOString()}` : '';
  const why = r.why === 'exited'
    ? `knockd (pid ${pid}) exited before applying key directory revision ${revision.slice(0, 12)}`
    : `knockd (pid ${pid}) has not applied key directory revision ${revision.slice(0, 12)} within ${ctx.ackTimeoutMs < 1000 ? `${ctx.ackTimeoutMs} ms` : `${Math.round(ctx.ackTimeoutMs / 1000)} s`}${seen}`;
  throw new AppError('ERR_DAEMON', `${why}; the record is changed on disk but NOT in force: check the daemon's log ('${printable(ctx.stateDir)}/keyring.ack')`);
}

function safeLoad(ctx: CommitContext): ReturnType<typeof loadKeyring>['refused'] | undefined {
  try { return loadKeyring(ctx.keysDir, { mode: ctx.trust }).refused; } catch { return undefined; }
}
