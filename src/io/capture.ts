/**
 * Packet capture through the `cap` addon (libpcap). The ONLY module that loads `cap`.
 *
 * What cap does (node_modules/cap/src/binding.cc, cap 0.2.1), and what we do about it:
 *  - open(device, filter, bufSize, buffer): pcap_create + snaplen 65535 + **promiscuous mode on**
 *    (knockd opens non-promiscuous; cap has no switch) + pcap_set_buffer_size(bufSize) + timeout
 *    1000 ms + **immediate mode** on Linux (packets are delivered at once, not in 1 s batches) +
 *    non-blocking; the filter is compiled with optimize=1 and the interface's netmask.
 *  - ring geometry that follows (seen with `ss -0 -e` on a veth): immediate mode makes libpcap use
 *    TPACKET_V2, whose ring has fixed-size frames sized for the snaplen; on an interface with
 *    segmentation/receive offloads on (veth, most NICs) that is 65,616 bytes a frame, so a 16 MiB
 *    buffer holds only 256 frames whatever their size (~1 ms of a 300 kpps SYN flood). Without
 *    offloads a frame is MTU-sized. cap exposes neither snaplen nor TPACKET_V3 (knockd 0.8 gets
 *    V3: small frames packed into blocks), so bufSize is the only knob.
 *  - every packet is memcpy'd into the ONE Buffer given to open() and announced as
 *    emit('packet', nbytes, truncated); the next packet overwrites it. We decode its first nbytes
 *    synchronously and decodeFrame copies what the Packet keeps. truncated = frame longer than our buffer;
 *    such frames are dropped (counted in stats().dropped). Our buffer is 65535 bytes = snaplen.
 *  - the pcap header timestamp is not exposed: rxMs is Date.now() when the event fires (immediate
 *    mode keeps the difference small).
 *  - there is no way to change the filter of an open handle (no pcap_setfilter binding), so
 *    setFilter() opens a second handle with the new filter and then closes the old one. No packet is
 *    lost in between, but a packet arriving in that instant may be delivered by both handles.
 *    If the new filter is rejected the old handle keeps running and setFilter throws ERR_CAPTURE.
 *    The daemon calls it only when the filter text really changes (not on every reload).
 *  - **no Cap object may ever be garbage-collected.** cap's close() stops its uv_poll_t but never
 *    uv_close()s it, so the handle stays in libuv's handle queue, embedded in the C++ object; when
 *    the GC then destroys the object (weak callback), libuv later writes into freed memory
 *    (valgrind: "Invalid write … uv__queue_remove … block free'd by InvokeFirstPassWeakCallbacks").
 *    That heap corruption killed the daemon after a few reloads (SIGSEGV). Every Cap we create
 *    (opened, closed or failed) is therefore kept referenced for the life of the process
 *    (`keptAlive`), and all handles of one capture share one packet buffer, so a retired handle
 *    costs a few hundred bytes. A Cap whose open() failed (bad device, bad filter) is kept too:
 *    its destructor would uv_poll_stop an uninitialised handle. We check the device name against
 *    pcap_findalldevs first.
 *  - pcap_stats is not exposed: stats() counts frames seen, packets decoded and frames we dropped
 *    (truncated, or decode/onPacket threw); kernel drops are not visible.
 *  - cap prints "Warning: SIOCGIFADDR: …" to stderr for interfaces without an IPv4 address.
 * Exceptions from decodeFrame or onPacket never escape into cap's event (they would become an
 * uncaught exception): they are counted and reported through onError at most once per second.
 */
import { createRequire } from 'node:module';
import { AppError } from '../core/errors.js';
import { decodeFrame, linkTypeFromCap } from '../core/packet/decode.js';
import type { LinkType } from '../core/packet/decode.js';
import type { Packet } from '../core/types.js';

export interface CaptureHandle {
  readonly linkType: LinkType;
  setFilter(expr: string): void;
  close(): void;
  stats(): { frames: number; decoded: number; dropped: number };
}

export interface CaptureOptions {
  iface: string;
  filter: string;
  /** Kernel capture buffer in bytes (pcap_set_buffer_size). Default 2 MiB. */
  bufferSize?: number;
  onPacket(p: Packet, rxMs: number): void;
  onError(e: Error): void;
}

interface CapInstance {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  close(): boolean;
  on(ev: 'packet', fn: (nbytes: number, truncated: boolean) => void): unknown;
  removeAllListeners(ev?: string): unknown;
}
interface CapModule {
  Cap: { new(): CapInstance; deviceList(): { name: string }[] };
}

const SNAPLEN = 65535;
const DEFAULT_BUFFER = 2 * 1024 * 1024;
const ERROR_REPORT_INTERVAL_MS = 1000;

let capModule: CapModule | undefined;
/**
 * `cap` is an optionalDependency: it needs libpcap and a C toolchain to build, and a client-only
 * install (`knock`) must succeed without them. When it is missing or broken the daemon says, in
 * one line, what to install, or that SPA-only doors can run without pcap.
 */
function loadCap(): CapModule {
  if (!capModule) {
    const require = createRequire(import.meta.url);
    try {
      capModule = require('cap') as CapModule;
    } catch (e) {
      const why = msg(e).split('\n')[0] ?? '';
      throw new AppError('ERR_CAPTURE', `packet capture needs the optional module 'cap' (libpcap), which could not be loaded (${why}): ` +
        'install libpcap-dev and a C/C++ toolchain (Debian: apt install libpcap-dev build-essential python3), then reinstall ' +
        "knockd-ts or run 'npm i cap' in its directory; or use the Debian package; SPA-only doors can run without pcap with " +
        "'SPAMode = socket' in [options]", { cause: e });
    }
  }
  return capModule;
}

/** Every Cap ever created: must stay reachable for the life of the process (see module comment). */
const keptAlive: CapInstance[] = [];

/** How many Cap objects this process holds (tests, soak). */
export function captureHandlesKept(): number { return keptAlive.length; }

function msg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

interface Opened { cap: CapInstance; linkType: LinkType; buffer: Buffer }

function openOne(iface: string, filter: string, bufferSize: number, buffer: Buffer): Opened {
  const mod = loadCap();
  let devices: string[] = [];
  try { devices = mod.Cap.deviceList().map((d) => d.name); } catch { devices = []; }
  if (devices.length > 0 && !devices.includes(iface)) {
    throw new AppError('ERR_CAPTURE', `could not open ${iface}: no such capture device (have: ${devices.join(', ')})`);
  }
  const cap = new mod.Cap();
  keptAlive.push(cap);
  let linkName: string;
  try {
    linkName = cap.open(iface, filter, bufferSize, buffer);
  } catch (e) {
    throw new AppError('ERR_CAPTURE', `could not open ${iface}: ${msg(e)}${filter ? ` (filter: ${filter})` : ''}`, { cause: e });
  }
  const linkType = linkTypeFromCap(linkName);
  if (linkType === undefined) {
    cap.close();
    throw new AppError('ERR_CAPTURE', `could not open ${iface}: unsupported link-layer type ${linkName}`);
  }
  return { cap, linkType, buffer };
}

export function openCapture(opts: CaptureOptions): CaptureHandle {
  const bufferSize = opts.bufferSize ?? DEFAULT_BUFFER;
  if (!Number.isInteger(bufferSize) || bufferSize < SNAPLEN || bufferSize > 0x7fffffff) {
    throw new AppError('ERR_CAPTURE', `could not open ${opts.iface}: buffer size ${String(bufferSize)} out of range`);
  }
  let frames = 0, decoded = 0, dropped = 0;
  let lastReport = -Infinity;
  let suppressed = 0;
  let closed = false;

  const report = (e: unknown): void => {
    dropped++;
    const now = Date.now();
    if (now - lastReport < ERROR_REPORT_INTERVAL_MS) { suppressed++; return; }
    lastReport = now;
    const extra = suppressed > 0 ? ` (${suppressed} more since the last report)` : '';
    suppressed = 0;
    try { opts.onError(new Error(`capture on ${opts.iface}: packet handler failed: ${msg(e)}${extra}`, { cause: e })); }
    catch { /* the error sink itself failed: nothing more we can do */ }
  };

  const attach = (o: Opened): void => {
    o.cap.on('packet', (nbytes: number, truncated: boolean) => {
      if (closed || current !== o) return;
      frames++;
      const rxMs = Date.now();
      if (truncated) { dropped++; return; }
      try {
        // The shared buffer itself, no view or copy per frame: decoding is synchronous (cap cannot
        // overwrite the buffer meanwhile), reads only the first nbytes and copies what it keeps.
        const p = decodeFrame(o.linkType, o.buffer, nbytes);
        if (p === undefined) return;
        decoded++;
        opts.onPacket(p, rxMs);
      } catch (e) {
        report(e);
      }
    });
  };

  // one buffer for every handle of this capture: each packet is copied in and decoded synchronously
  const buffer = Buffer.alloc(SNAPLEN);
  let current: Opened = openOne(opts.iface, opts.filter, bufferSize, buffer);
  attach(current);

  return {
    get linkType(): LinkType { return current.linkType; },
    setFilter(expr: string): void {
      if (closed) throw new AppError('ERR_CAPTURE', `capture on ${opts.iface} is closed`);
      const next = openOne(opts.iface, expr, bufferSize, buffer);
      if (next.linkType !== current.linkType) {
        next.cap.close();
        throw new AppError('ERR_CAPTURE', `could not reopen ${opts.iface}: link-layer type changed from ${current.linkType} to ${next.linkType}`);
      }
      const old = current;
      current = next;
      attach(next);
      old.cap.close();
      old.cap.removeAllListeners('packet');
    },
    close(): void {
      if (closed) return;
      closed = true;
      current.cap.close();
      current.cap.removeAllListeners('packet');
    },
    stats() { return { frames, decoded, dropped }; },
  };
}
