/**
 * `knockd keys add|list|show|revoke` on KeysDir (PROTOCOL.md §6).
 *
 * No secret ever reaches the command line, stdout, stderr or a log: hmac secrets are
 * generated here and written once to a 0600 client key file (--out, refusing to overwrite)
 * or read from such a file (--hmac-key-file).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, existsSync, unlinkSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { AppError, exitCodeFor } from '../core/errors.js';
import { parseCidr, type Cidr } from '../core/ip.js';
import { clientKeyFromSecret, formatClientKey, formatPublicLine, parsePublicLine } from '../core/keys/client.js';
import { keyIdHex } from '../core/keys/id.js';
import { DOOR_RE, formatDate, keyStatus, MAX_TTL_LIMIT, NAME_RE, parseList, type KeyRecord } from '../core/keys/record.js';
import { parseWhen, TIME_SYNTAX } from '../core/time-text.js';
import { checkKeysDir, loadKeyring, readKeyRecordFile, recordPath, writeKeyRecord } from '../io/keystore.js';
import { loadClientKeyFile, writeSecretFile } from './spa-client.js';

export interface KeysOpts {
  keysDir: string;
  out: (s: string) => void;
  err: (s: string) => void;
  notifyDaemon?: () => void;
  /** Tests: fixed clock. */
  now?: () => number;
}

interface AddFlags {
  pubkeyFile?: string; hmac?: boolean; hmacKeyFile?: string; out?: string; doors?: string; from?: string;
  expires?: string; maxTtl?: string; comment?: string;
}

const usage = (m: string): never => { throw new AppError('ERR_USAGE', m); };

/** --expires: the shared time syntax (core/time-text.ts), counted forward from now. */
function parseExpires(s: string, now: number): number {
  const t = parseWhen(s, now, 'future');
  return t === undefined ? usage(`--expires '${s}': expected ${TIME_SYNTAX}`) : t;
}

function describe(r: KeyRecord, now: number): string[] {
  const lines = [
    `name:     ${r.name}`,
    `type:     ${r.type}`,
    `id:       ${r.id}`,
  ];
  if (r.publicKey) lines.push(`public:   ${formatPublicLine(r.publicKey, r.comment)}`);
  if (r.secret) lines.push(`secret:   (stored in the record, never shown)`);
  lines.push(
    `status:   ${keyStatus(r, now)}`,
    `doors:    ${r.doors.length ? r.doors.join(',') : '(all spa doors)'}`,
    `from:     ${r.from.length ? r.from.map((c) => c.text).join(',') : '(anywhere)'}`,
    `expires:  ${r.expires !== undefined ? formatDate(r.expires) : 'never'}`,
    `max_ttl:  ${r.maxTtl ? `${r.maxTtl}s` : '(door cmd_timeout)'}`,
  );
  if (r.created !== undefined) lines.push(`created:  ${formatDate(r.created)}`);
  if (r.revoked !== undefined) lines.push(`revoked:  ${formatDate(r.revoked)}`);
  if (r.comment && !r.publicKey) lines.push(`comment:  ${r.comment}`);
  return lines;
}

function readRecord(dir: string, name: string): KeyRecord {
  checkKeysDir(dir);
  const path = recordPath(dir, name);
  if (!existsSync(path)) throw new AppError('ERR_KEY_UNKNOWN', `no key named '${name}' in '${dir}'`);
  return readKeyRecordFile(path, name);
}

export async function keysMain(argv: string[], opts: KeysOpts): Promise<number> {
  const now = (opts.now ?? Date.now)();
  const dir = opts.keysDir;
  const program = new Command('keys')
    .description(`manage enrolled SPA keys in ${dir}`)
    .exitOverride()
    .showHelpAfterError(false)
    .configureOutput({ writeOut: opts.out, writeErr: opts.err });

  program.command('add')
    .description('enrol a key: PUBLIC-LINE (knock-ed25519 ...), --pubkey-file F, --hmac [--out F] or --hmac-key-file F')
    .argument('<name>', 'principal name ([A-Za-z0-9_.-])')
    .argument('[public...]', "the public line printed by 'knock --keygen'")
    .option('--pubkey-file <file>', 'read the public line from a key.pub file')
    .option('--hmac', 'generate a shared-secret (HMAC-SHA256) key; the secret goes only to --out')
    .option('--out <file>', 'client key file for --hmac (created 0600, never overwritten)')
    .option('--hmac-key-file <file>', "enrol the secret from a client hmac key file ('knock --keygen --type hmac')")
    .option('--doors <list>', 'doors this key may open (comma separated; default all spa doors)')
    .option('--from <cidrs>', 'networks the address to open must be in (comma separated; default anywhere)')
    .option('--expires <date>', 'ISO date/time or duration (90d, 12h)')
    .option('--max-ttl <seconds>', 'upper bound for the granted duration')
    .option('--comment <text>', 'free text')
    .action((name: string, pub: string[], f: AddFlags) => {
      if (!NAME_RE.test(name)) usage(`key name '${name}' must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`);
      const sources = [pub.length > 0, f.pubkeyFile !== undefined, !!f.hmac, f.hmacKeyFile !== undefined].filter(Boolean).length;
      if (sources !== 1) usage('give exactly one of PUBLIC-LINE, --pubkey-file, --hmac, --hmac-key-file');
      if (f.out !== undefined && !f.hmac) usage('--out only applies to --hmac');
      checkKeysDir(dir);
      const path = recordPath(dir, name);
      if (existsSync(path)) throw new AppError('ERR_KEY_EXISTS', `key '${name}' already exists ('${path}'); revoke it or choose another name`);
      const doors = parseList(f.doors ?? '');
      for (const d of doors) if (!DOOR_RE.test(d)) usage(`--doors: '${d}' must match [A-Za-z0-9_.-]{1,32}`);
      const from: Cidr[] = parseList(f.from ?? '').map((c) => parseCidr(c) ?? usage(`--from: '${c}' is not a network (address/prefix, host bits zero)`));
      let maxTtl: number | undefined;
      if (f.maxTtl !== undefined) {
        if (!/^\d{1,10}$/.test(f.maxTtl) || Number(f.maxTtl) > MAX_TTL_LIMIT) usage(`--max-ttl '${f.maxTtl}': expected seconds`);
        maxTtl = Number(f.maxTtl);
      }
      const expires = f.expires !== undefined ? parseExpires(f.expires, now) : undefined;
      const base = {
        name, doors, from, created: now,
        ...(expires !== undefined ? { expires } : {}), ...(maxTtl !== undefined ? { maxTtl } : {}),
      };
      let rec: KeyRecord;
      let clientFile: string | undefined;
      if (f.hmac || f.hmacKeyFile !== undefined) {
        let secret: Uint8Array;
        if (f.hmacKeyFile !== undefined) {
          const ck = loadClientKeyFile(f.hmacKeyFile);
          if (ck.type !== 'hmac') usage(`'${f.hmacKeyFile}' is an ${ck.type} key; enrol its key.pub line instead`);
          secret = ck.material;
        } else {
          secret = new Uint8Array(randomBytes(32));
          clientFile = f.out ?? `${name}.knock-key`;
          writeSecretFile(clientFile, formatClientKey(clientKeyFromSecret(secret, name), `hmac key '${name}' — PRIVATE, shared secret`), { overwrite: false });
        }
        rec = { ...base, type: 'hmac', id: keyIdHex('hmac', secret), secret, ...(f.comment ? { comment: f.comment } : {}) };
      } else {
        let line: string;
        let where = 'PUBLIC-LINE';
        if (f.pubkeyFile !== undefined) {
          where = f.pubkeyFile;
          try { line = readFileSync(f.pubkeyFile, 'utf8').split('\n')[0] ?? ''; } catch (e) {
            throw new AppError('ERR_KEY_FILE', `cannot read '${f.pubkeyFile}': ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
          }
        } else line = pub.join(' ');
        const p = parsePublicLine(line, where);
        const comment = f.comment ?? p.comment;
        rec = { ...base, type: 'ed25519', id: keyIdHex('ed25519', p.publicKey), publicKey: p.publicKey, ...(comment ? { comment } : {}) };
      }
      try {
        const existing = loadKeyring(dir).byId(rec.id);
        if (existing) throw new AppError('ERR_KEY_EXISTS', `this key is already enrolled as '${existing.name}' (id ${rec.id})`);
        writeKeyRecord(dir, rec);
      } catch (e) {
        if (clientFile !== undefined && existsSync(clientFile)) unlinkSync(clientFile); // the secret was never enrolled
        throw e;
      }
      opts.out(`added key '${name}' (${rec.type}, id ${rec.id}) to ${path}\n`);
      if (clientFile !== undefined) {
        const mode = (statSync(clientFile).mode & 0o777).toString(8);
        opts.out(`wrote the client key file ${clientFile} (mode 0${mode}); hand it to the user over a secure channel — the secret is not shown again\n` +
          `the user knocks with: knock --spa --key ${clientFile} HOST\n`);
      }
      opts.notifyDaemon?.();
    });

  program.command('list')
    .description('list enrolled keys')
    .action(() => {
      const ks = loadKeyring(dir).list();
      if (ks.length === 0) { opts.out(`no keys enrolled in ${dir}\n`); return; }
      const rows = [['NAME', 'TYPE', 'ID', 'STATUS', 'DOORS', 'FROM', 'EXPIRES']];
      for (const r of ks) {
        rows.push([r.name, r.type, r.id, keyStatus(r, now), r.doors.join(',') || '*', r.from.map((c) => c.text).join(',') || '*',
          r.expires !== undefined ? formatDate(r.expires) : 'never']);
      }
      const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
      for (const r of rows) opts.out(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i] ?? 0))).join('  ') + '\n');
    });

  program.command('show')
    .description('show one key (never its secret)')
    .argument('<name>')
    .action((name: string) => {
      opts.out(describe(readRecord(dir, name), now).join('\n') + '\n');
    });

  program.command('revoke')
    .description('revoke a key; takes effect on the next packet, open doors of the key are closed by the daemon')
    .argument('<name>')
    .action((name: string) => {
      const r = readRecord(dir, name);
      if (r.revoked !== undefined && r.revoked <= now) {
        opts.out(`key '${name}' (id ${r.id}) was already revoked at ${formatDate(r.revoked)}\n`);
        return;
      }
      writeKeyRecord(dir, { ...r, revoked: now }, { overwrite: true });
      opts.out(`revoked key '${name}' (id ${r.id})\n`);
      opts.notifyDaemon?.();
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
      opts.err(`knockd keys: ${e.message} [${e.code}]\n`);
      return exitCodeFor(e.code);
    }
    throw e;
  }
}
