/**
 * Keeps the SPA port silent in pcap mode. The daemon reads SPA datagrams from the capture, so
 * without a socket on the port the kernel answers every datagram with ICMP port unreachable,
 * telling a scanner the host is there. A UDP socket bound to the port and never read prevents
 * that: the kernel queues a few datagrams in its (minimal) receive buffer and silently drops
 * the rest; nothing is ever sent back and Node never wakes up for them.
 *
 * Node has no public "stop receiving" call; libuv starts reading when a dgram socket binds, so
 * the socket's handle is told to stop (recvStop, present in Node 20 and 22). Where it is not
 * available the socket still keeps the port silent and each datagram costs one no-op event.
 */
import { createSocket, type Socket } from 'node:dgram';

export interface QuietPort { close(): void; readonly reading: boolean }

function stopReading(s: Socket): boolean {
  for (const sym of Object.getOwnPropertySymbols(s)) {
    const st = (s as unknown as Record<symbol, { handle?: { recvStop?: () => number } } | undefined>)[sym];
    if (st && typeof st === 'object' && typeof st.handle?.recvStop === 'function') return st.handle.recvStop() === 0;
  }
  return false;
}

/** Binds `port` on IPv4 (and IPv6). Reports (never throws) when the port is taken. */
export function holdQuietPort(port: number, ipv6: boolean, onError: (msg: string) => void): QuietPort {
  const sockets: Socket[] = [];
  let reading = false;
  for (const type of (ipv6 ? ['udp4', 'udp6'] : ['udp4']) as ('udp4' | 'udp6')[]) {
    const s = createSocket({ type, ipv6Only: type === 'udp6', recvBufferSize: 1 } as Parameters<typeof createSocket>[0]);
    s.on('error', (e) => onError(`SPA port ${port}/${type}: ${e.message}; the kernel may answer datagrams to it with ICMP`));
    s.on('message', () => { /* only when recvStop is unavailable */ });
    s.bind(port, () => {
      if (!stopReading(s)) reading = true;
      s.unref();
    });
    sockets.push(s);
  }
  return {
    get reading() { return reading; },
    close(): void { for (const s of sockets) { try { s.close(); } catch { /* already closed */ } } },
  };
}
