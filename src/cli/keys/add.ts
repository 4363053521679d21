/**
 * `knockd keys add NAME (ENROL-LINE | --pubkey-file F | --hmac [--out F] | --hmac-key-file F)
 *  [--doors D] [--from N] [--expires T] [--max-ttl S] [--nat] [--comment C]`.
 *
 * No secret ever reaches the command line, stdout, stderr or a log: hmac secrets are generated
 * here and written once to a 0600 client key file (--out, refusing to overwrite) or read from
 * such a file (--hmac-key-file). Ed25519 keys are enrolled from the user's enrolment line
 * (v2: `knock-ed25519-v2 ...`, or a v1 key's `knock-ed25519 ...`); weak keys are refused.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { AppError } from '../../core/errors.js';
import { clientKeyFromSecret, formatClientKey, parsePublicLine } from '../../core/keys/client.js';
import { keyIdHex } from '../../core/keys/id.js';
import { formatDate, NAME_RE, parseKeyRecord, type KeyRecord } from '../../core/keys/record.js';
import { printable } from '../../core/text.js';
import { checkKeysDir, loadKeyring, recordPath, writeKeyRecord } from '../../io/keystore.js';
import { readFileSafe } from '../../io/safe-file.js';
import { loadClientKeyFile, writeSecretFile } from '../spa-client.js';
import { commit, type CommitContext } from './commit.js';
import { applyPolicy, checkNatUsable, describePolicy, keyFields, parsePolicy, type PolicyFlags } from './fields.js';

export interface AddFlags extends PolicyFlags { pubkeyFile?: string; hmac?: boolean; hmacKeyFile?: string; out?: string }

const usage = (m: string): never => { throw new AppError('ERR_USAGE', m); };

export function checkName(name: string): void {
  if (!NAME_RE.test(name)) usage(`key name '${printable(name, 80)}' must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`);
}

/** Why an existing name cannot be added again, with what to do instead. */
function existsError(dir: string, name: string, trust: CommitContext['trust']): AppError {
  const path = recordPath(dir, name);
  let state = '';
  try {
    const r = parseKeyRecord((readFileSafe(path, { code: 'ERR_KEY_FILE', mode: trust, maxBytes: 65536 }) as Buffer).toString('utf8'), path, name);
    if (r.revoked !== undefined) state = ` (revoked ${formatDate(r.revoked)}; 'knockd keys unrevoke ${name}' re-enables that key)`;
  } catch { /* unreadable: the plain message */ }
  return new AppError('ERR_KEY_EXISTS', `key '${name}' already exists ('${path}')${state}; 'knockd keys remove ${name}' first to enrol another key under this name`);
}

export async function addKey(name: string, pub: string[], f: AddFlags, ctx: CommitContext & { spaDoors: readonly string[] }): Promise<void> {
  checkName(name);
  const sources = [pub.length > 0, f.pubkeyFile !== undefined, !!f.hmac, f.hmacKeyFile !== undefined].filter(Boolean).length;
  if (sources !== 1) usage('give exactly one of ENROL-LINE, --pubkey-file, --hmac, --hmac-key-file');
  if (f.out !== undefined && !f.hmac) usage('--out only applies to --hmac');
  const dir = ctx.keysDir, now = ctx.now();
  checkKeysDir(dir, ctx.trust);
  if (existsSync(recordPath(dir, name))) throw existsError(dir, name, ctx.trust);
  const policy = parsePolicy(f, { now, spaDoors: ctx.spaDoors });

  let rec: KeyRecord;
  let clientFile: string | undefined;
  let v1Line = false;
  const base = { name, doors: [], from: [], created: now };
  if (f.hmac || f.hmacKeyFile !== undefined) {
    let secret: Uint8Array;
    if (f.hmacKeyFile !== undefined) {
      const ck = loadClientKeyFile(f.hmacKeyFile);
      if (ck.type !== 'hmac') usage(`'${f.hmacKeyFile}' is an ${ck.type} key; enrol its enrolment line (key.enrol) instead`);
      secret = ck.material;
    } else {
      secret = new Uint8Array(randomBytes(32));
      clientFile = f.out ?? `${name}.knock-key`;
    }
    rec = { ...base, type: 'hmac', id: keyIdHex('hmac', secret), secret };
  } else {
    let line: string;
    let where = 'ENROL-LINE';
    if (f.pubkeyFile !== undefined) {
      where = f.pubkeyFile;
      try { line = readFileSync(f.pubkeyFile, 'utf8').split('\n')[0] ?? ''; } catch (e) {
        throw new AppError('ERR_KEY_FILE', `cannot read '${f.pubkeyFile}': ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
      }
    } else line = pub.join(' ');
    const p = parsePublicLine(line, where);
    v1Line = p.version === 1;
    rec = {
      ...base, type: 'ed25519', id: keyIdHex('ed25519', p.publicKey), publicKey: p.publicKey,
      ...(p.mac1Key ? { mac1Key: p.mac1Key } : {}), ...(p.comment ? { comment: p.comment } : {}),
    };
  }
  rec = applyPolicy(rec, policy);
  checkNatUsable(rec);

  const existing = loadKeyring(dir, { mode: ctx.trust }).keyring.byId(rec.id);
  if (existing) throw new AppError('ERR_KEY_EXISTS', `this key is already enrolled as '${existing.name}' (id ${rec.id})`);
  if (clientFile !== undefined && rec.secret) {
    writeSecretFile(clientFile, formatClientKey(clientKeyFromSecret(rec.secret, name), `hmac key '${name}' — PRIVATE, shared secret`), { overwrite: false });
  }
  const path = recordPath(dir, name);
  try {
    await commit(ctx, { event: 'key.add', rec, fields: keyFields(rec) }, () => {
      writeKeyRecord(dir, rec, { mode: ctx.trust });
      ctx.out(`added key '${name}' (${rec.type}, id ${rec.id}) to ${path}: ${describePolicy(rec)}\n`);
    });
  } catch (e) {
    // the secret was never enrolled: do not leave a usable-looking client file behind
    if (clientFile !== undefined && existsSync(clientFile) && !existsSync(path)) unlinkSync(clientFile);
    throw e;
  }
  if (v1Line) {
    ctx.err(`note: '${name}' was enrolled from a v1 line: it accepts v1 requests, whose mac1 anyone holding the public line can compute ` +
      `(they can then spend this key's knock budget, PROTOCOL.md §5). A key made by 'knock --keygen' since v2 avoids that.\n`);
  }
  if (clientFile !== undefined) {
    const mode = (statSync(clientFile).mode & 0o777).toString(8);
    ctx.out(`wrote the client key file ${clientFile} (mode 0${mode}); hand it to the user over a secure channel — the secret is not shown again\n` +
      `the user knocks with: knock --spa --key ${clientFile} HOST\n`);
  }
}
