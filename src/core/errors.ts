/**
 * Operator-facing errors. Attacker input never produces one of these: decoders and
 * verifiers return a value or a reason. Operator mistakes (config, key files, CLI
 * arguments) throw an AppError with a stable code, so scripts and tests can match on
 * `code` and humans get a precise `message`.
 */
export type ErrorCode =
  | 'ERR_CONFIG_READ'        // config file missing or unreadable
  | 'ERR_CONFIG_SYNTAX'      // line-level syntax: section, key, missing '='
  | 'ERR_CONFIG_VALUE'       // a value that is not acceptable for its key
  | 'ERR_CONFIG_DOOR'        // a door that is inconsistent as a whole
  | 'ERR_OTS_FILE'           // one-time-sequence file problem
  | 'ERR_KEY_FILE'           // key file unreadable, malformed, or with loose permissions
  | 'ERR_KEY_EXISTS'         // refusing to overwrite a key without --force
  | 'ERR_KEY_UNKNOWN'        // no such enrolled key
  | 'ERR_KEYS_DIR'           // the key directory is missing or unsafe
  | 'ERR_USAGE'              // bad command-line arguments
  | 'ERR_CAPTURE'            // pcap could not be opened / filter rejected
  | 'ERR_STATE'              // state directory / journal problem
  | 'ERR_RESOLVE'            // host name could not be resolved
  | 'ERR_RUNNING'            // another daemon already runs with this StateDir
  | 'ERR_NETWORK'            // client: a network operation failed (errno text in the message)
  | 'ERR_NOT_OPEN'           // client: the knocked port did not accept within the time bound
  | 'ERR_NFT'                // nftables missing, or a configured table/set missing or of the wrong type
  | 'ERR_DAEMON'             // the running daemon did not apply a change in time
  | 'ERR_INTERNAL';

export class AppError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'AppError';
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** Exit status for an error code (used by both CLIs). */
export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'ERR_USAGE': return 64;            // EX_USAGE
    case 'ERR_CONFIG_READ':
    case 'ERR_CONFIG_SYNTAX':
    case 'ERR_CONFIG_VALUE':
    case 'ERR_CONFIG_DOOR':
    case 'ERR_OTS_FILE': return 78;         // EX_CONFIG
    case 'ERR_KEY_FILE':
    case 'ERR_KEY_EXISTS':
    case 'ERR_KEY_UNKNOWN':
    case 'ERR_KEYS_DIR': return 77;         // EX_NOPERM-ish: key material refused
    case 'ERR_RESOLVE': return 68;          // EX_NOHOST
    case 'ERR_RUNNING': return 75;          // EX_TEMPFAIL
    case 'ERR_NETWORK': return 69;          // EX_UNAVAILABLE
    case 'ERR_NOT_OPEN': return 75;         // EX_TEMPFAIL: try again later
    case 'ERR_DAEMON': return 75;           // EX_TEMPFAIL: the change is made, not yet in force
    default: return 1;
  }
}
