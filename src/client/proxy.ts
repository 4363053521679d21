/**
 * The relay of `-W host:port` (OpenSSH ProxyCommand): stdin → connection, connection → stdout,
 * with stream pipes (each chunk is written as it arrives; backpressure, no polling). When stdin
 * ends the connection is half-closed (FIN) and the answer still flows back; when the server
 * closes, stdout ends and the relay is over. TCP_NODELAY is set as ssh sets it itself.
 */
import type net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { netErrorText } from './neterr.js';

export interface RelayResult { code: number; error?: string; toServer: number; fromServer: number }

export function relay(sock: net.Socket, input: Readable, output: Writable): Promise<RelayResult> {
  return new Promise<RelayResult>((resolve) => {
    let toServer = 0, fromServer = 0, error: string | undefined;
    sock.setNoDelay(true);
    input.on('data', (d: Buffer) => { toServer += d.length; });
    sock.on('data', (d: Buffer) => { fromServer += d.length; });
    input.on('error', (e) => { error ??= `reading stdin: ${netErrorText(e)}`; sock.destroy(); });
    output.on('error', (e) => { error ??= `writing stdout: ${netErrorText(e)}`; sock.destroy(); });
    sock.on('error', (e) => { error ??= `connection: ${netErrorText(e)}`; });
    input.pipe(sock);          // stdin EOF → sock.end(): half-close, keep reading the answer
    sock.pipe(output);         // server FIN → output.end()
    sock.once('close', () => {
      input.unpipe(sock);
      // stdin may stay open (ssh keeps it until we exit); nothing more can go anywhere
      input.destroy();
      const done = () => resolve({ code: error ? 1 : 0, toServer, fromServer, ...(error ? { error } : {}) });
      if (error || output.writableFinished || output.destroyed) { done(); return; }
      output.once('finish', done); output.once('close', done); output.once('error', done);
      output.end();
    });
  });
}
