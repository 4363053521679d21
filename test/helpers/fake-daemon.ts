/**
 * A stand-in for the daemon's side of `knockd keys` (what src/daemon does on SIGHUP or a
 * KeysDir change): reload KeysDir and write StateDir/keyring.ack (src/io/keyring-ack.ts).
 * `notify` is what keysMain calls instead of signalling a real process.
 */
import { keyringAck, writeKeyringAck } from '../../src/io/keyring-ack.js';
import { loadKeyring } from '../../src/io/keystore.js';

export type FakeBehaviour = 'ack' | 'silent' | 'old-revision';

export interface FakeDaemon {
  /** keysMain's notifyDaemon: returns the "daemon" pid (this test process, alive). */
  notify: () => number | undefined;
  /** Signals received. */
  readonly signals: () => number;
  behaviour: FakeBehaviour;
}

export function fakeDaemon(keysDir: string, stateDir: string, behaviour: FakeBehaviour = 'ack', delayMs = 30): FakeDaemon {
  let signals = 0;
  let lastRevision: string | undefined;
  const d: FakeDaemon = {
    behaviour,
    signals: () => signals,
    notify: () => {
      signals++;
      setTimeout(() => {
        if (d.behaviour === 'silent') return;
        const load = loadKeyring(keysDir, { mode: 'admin' });
        const ack = keyringAck(load, process.pid, Date.now());
        writeKeyringAck(stateDir, d.behaviour === 'old-revision' ? { ...ack, revision: lastRevision ?? '0'.repeat(32) } : ack);
        lastRevision = load.revision;
      }, delayMs);
      return process.pid;
    },
  };
  return d;
}
