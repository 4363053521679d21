/**
 * `knockd keys add|list|show|set|revoke|unrevoke|remove` on KeysDir (PROTOCOL.md §6).
 *
 * Every change is audited (src/cli/keys/commit.ts: who ran it), and is reported in force only
 * once the running daemon acknowledged the new key-directory revision. Root may administer a
 * KeysDir owned by the service user (`admin` trust, io/safe-file.ts); records it writes get that
 * user's ownership. Door names are checked against the configuration's SPA doors.
 */
import { Command, CommanderError } from 'commander';
import type { Actor } from '../core/audit/events.js';
import { AppError, exitCodeFor } from '../core/errors.js';
import { formatDate, type KeyRecord } from '../core/keys/record.js';
import { printable } from '../core/text.js';
import { checkKeysDir, loadKeyring, readKeyRecordFile, recordPath, removeKeyRecord, writeKeyRecord } from '../io/keystore.js';
import type { TrustMode } from '../io/safe-file.js';
import { addKey, checkName, type AddFlags } from './keys/add.js';
import { commit, currentActor, type CommitContext } from './keys/commit.js';
import { applyPolicy, checkNatUsable, describePolicy, diffFields, parsePolicy, type PolicyFlags } from './keys/fields.js';
import { describeRecord, refusedWarnings, renderList } from './keys/view.js';

export interface KeysOpts {
  keysDir: string;
  /** The configuration's SPA door names (spa = yes): --doors must name them. */
  spaDoors: readonly string[];
  /** AuditLog of the configuration: every change is appended there. */
  auditLog?: string;
  /** StateDir: where the daemon acknowledges what it applied (keyring.ack). */
  stateDir?: string;
  out: (s: string) => void;
  err: (s: string) => void;
  /** Signal the running daemon; its pid, or undefined when none runs. */
  notifyDaemon?: () => number | undefined;
  /** How long to wait for the daemon's acknowledgement (default 5 s). */
  ackTimeoutMs?: number;
  /** Default 'admin' (root may manage the service user's KeysDir). */
  trust?: TrustMode;
  /** Tests: fixed clock and invoking user. */
  now?: () => number;
  actor?: Actor;
}

function readRecord(dir: string, name: string, trust: TrustMode): KeyRecord {
  checkName(name);
  const dirSt = checkKeysDir(dir, trust);
  const path = recordPath(dir, name);
  try {
    return readKeyRecordFile(path, name, { mode: trust, dirSt });
  } catch (e) {
    if (e instanceof AppError && /\(ENOENT\)/.test(e.message)) throw new AppError('ERR_KEY_UNKNOWN', `no key named '${name}' in '${dir}'`, { cause: e });
    throw e;
  }
}

export async function keysMain(argv: string[], opts: KeysOpts): Promise<number> {
  const trust = opts.trust ?? 'admin';
  const now = opts.now ?? Date.now;
  const dir = opts.keysDir;
  const ctx: CommitContext & { spaDoors: readonly string[] } = {
    keysDir: dir, trust, out: opts.out, err: opts.err, ackTimeoutMs: opts.ackTimeoutMs ?? 5000, now,
    actor: opts.actor ?? currentActor(), spaDoors: opts.spaDoors,
    ...(opts.stateDir !== undefined ? { stateDir: opts.stateDir } : {}),
    ...(opts.auditLog !== undefined ? { auditLog: opts.auditLog } : {}),
    ...(opts.notifyDaemon ? { notifyDaemon: opts.notifyDaemon } : {}),
  };
  const program = new Command('keys')
    .description(`manage enrolled SPA keys in ${dir}`)
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({ writeOut: opts.out, writeErr: opts.err });
  const policyOptions = (c: Command): Command => c
    .option('--doors <list>', "SPA doors this key may open (comma separated; '*' = every SPA door, the default)")
    .option('--from <cidrs>', "networks the address to open must be in (comma separated; '*' = anywhere, the default)")
    .option('--expires <when>', "a duration from now (90d, 12h, 1w), an ISO date/time, or 'never'")
    .option('--max-ttl <time>', "upper bound for the granted duration: seconds or 90s/15m/2h; 'default' = the door's cmd_timeout")
    .option('--nat', 'allow requests that ask to open the address their packet comes from (client behind NAT; see SECURITY.md)')
    .option('--no-nat', 'withdraw --nat')
    .option('--comment <text>', 'free text (no control characters)');

  policyOptions(program.command('add')
    .description("enrol a key: its enrolment line ('knock-ed25519-v2 ...' from the user's key.enrol), --pubkey-file F, --hmac [--out F] or --hmac-key-file F")
    .argument('<name>', 'principal name ([A-Za-z0-9_.-])')
    .argument('[line...]', "the enrolment line printed by 'knock --keygen'")
    .option('--pubkey-file <file>', 'read the enrolment line from a file (key.enrol)')
    .option('--hmac', 'generate a shared-secret (HMAC-SHA256) key; the secret goes only to --out')
    .option('--out <file>', 'client key file for --hmac (created 0600, never overwritten)')
    .option('--hmac-key-file <file>', "enrol the secret from a client hmac key file ('knock --keygen --type hmac')"))
    .action((name: string, pub: string[], f: AddFlags) => addKey(name, pub, f, ctx));

  program.command('list')
    .description('list enrolled keys')
    .action(() => {
      const l = loadKeyring(dir, { mode: trust });
      const ks = l.keyring.list();
      if (ks.length === 0) opts.out(`no keys enrolled in ${dir}\n`);
      else opts.out(renderList(ks, now()));
      opts.err(refusedWarnings(l.refused));
    });

  program.command('show')
    .description('show one key (never its secret)')
    .argument('<name>')
    .action((name: string) => { opts.out(describeRecord(readRecord(dir, name, trust), now()).join('\n') + '\n'); });

  policyOptions(program.command('set')
    .description('change a key\'s doors, networks, expiry, max ttl, nat permission or comment')
    .argument('<name>'))
    .action(async (name: string, f: PolicyFlags) => {
      const r = readRecord(dir, name, trust);
      const change = parsePolicy(f, { now: now(), spaDoors: opts.spaDoors });
      if (Object.keys(change).length === 0) throw new AppError('ERR_USAGE', 'keys set: give at least one of --doors, --from, --expires, --max-ttl, --nat/--no-nat, --comment');
      const next = applyPolicy(r, change);
      checkNatUsable(next);
      const d = diffFields(r, next);
      if (Object.keys(d.fields).length === 0) { opts.out(`key '${name}' already has these settings: nothing changed\n`); return; }
      await commit(ctx, { event: 'key.set', rec: next, ...d }, () => {
        writeKeyRecord(dir, next, { overwrite: true, mode: trust });
        opts.out(`updated key '${name}' (id ${r.id}): ${describePolicy(next)}\n`);
      });
    });

  program.command('revoke')
    .description('revoke a key; takes effect on the next packet, open doors of the key are closed by the daemon')
    .argument('<name>')
    .action(async (name: string) => {
      const r = readRecord(dir, name, trust);
      if (r.revoked !== undefined && r.revoked <= now()) {
        opts.out(`key '${name}' (id ${r.id}) was already revoked at ${formatDate(r.revoked)}\n`);
        return;
      }
      const next = { ...r, revoked: now() };
      await commit(ctx, { event: 'key.revoke', rec: next }, () => {
        writeKeyRecord(dir, next, { overwrite: true, mode: trust });
        opts.out(`revoked key '${name}' (id ${r.id})\n`);
      });
    });

  program.command('unrevoke')
    .description('re-enable a revoked key (the same key pair; to enrol a new key, remove the name and add it again)')
    .argument('<name>')
    .action(async (name: string) => {
      const r = readRecord(dir, name, trust);
      if (r.revoked === undefined) { opts.out(`key '${name}' (id ${r.id}) is not revoked\n`); return; }
      const { revoked: _gone, ...next } = r;
      void _gone;
      await commit(ctx, { event: 'key.unrevoke', rec: next }, () => {
        writeKeyRecord(dir, next, { overwrite: true, mode: trust });
        opts.out(`key '${name}' (id ${r.id}) is no longer revoked\n`);
      });
    });

  program.command('remove')
    .description('delete a key record (the key can no longer knock; its open doors are closed by the daemon)')
    .argument('<name>')
    .action(async (name: string) => {
      const r = readRecord(dir, name, trust);
      await commit(ctx, { event: 'key.remove', rec: r }, () => {
        const path = removeKeyRecord(dir, name, { mode: trust });
        opts.out(`removed key '${name}' (id ${r.id}, ${path})\n`);
      });
    });

  try {
    if (argv.length === 0) { program.outputHelp({ error: true }); return exitCodeFor('ERR_USAGE'); }
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
      return exitCodeFor('ERR_USAGE');
    }
    if (e instanceof AppError) {
      opts.err(`knockd keys: ${printable(e.message, 2000)} [${e.code}]\n`);
      return exitCodeFor(e.code);
    }
    throw e;
  }
}
