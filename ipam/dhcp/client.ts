/**
 * The plugin's side of the daemon socket: one call per connection, as the reference plugin makes it (rpc.DialHTTP,
 * client.Call). Synchronous (a plugin is one short sequential run): blocking FFI socket calls with a deadline.
 */
import { CniError, ErrorCode, pluginError } from '../../lib/cni/errors.js';
import { traced } from '../../lib/trace.js';
import { CONNECT_REQUEST, CONNECTED_STATUS, PairReader, answerFrom, encodeCall, type Answer, type CmdArgs } from './rpc.js';
import * as sys from './sys.js';

/**
 * Longest wait for an answer. The daemon may retry a DHCP exchange for minutes (the reference's back-off: about 3.5
 * minutes with the default -timeout and -resendmax) before it answers with an error; the reference plugin waits
 * forever.
 */
export const CALL_TIMEOUT_MS = 5 * 60_000;

/** Call `method` on the daemon at `socketPath`: its answer (Error set when the daemon's method failed). */
export function callDaemon(socketPath: string, method: string, args: CmdArgs, timeoutMs = CALL_TIMEOUT_MS): Answer {
  if (!sys.available()) throw pluginError('dhcp needs the cni-ts executable: its connection to the daemon uses in-process system calls');
  let fd: number;
  try {
    fd = traced('dhcp connect', () => sys.connectUnix(socketPath));
  } catch (e) {
    const hint = e instanceof sys.SysError && (e.errno === 2 || e.errno === 111) ? ` (is the dhcp daemon running? start it with "dhcp daemon${socketPath === '/run/cni/dhcp.sock' ? '' : ` -socketpath ${socketPath}`}")` : '';
    throw pluginError(`error dialing DHCP daemon: ${(e as Error).message}${hint}`);
  }
  try {
    return traced(`dhcp ${method}`, () => exchange(fd, socketPath, method, args, timeoutMs));
  } finally {
    sys.close(fd);
  }
}

/**
 * CONNECT, wait for "200 Connected to Go RPC", then the call, then read its answer. The call must not go with the
 * CONNECT: the Go daemon's HTTP server reads ahead and drops what it read when it hands the connection to net/rpc.
 */
function exchange(fd: number, socketPath: string, method: string, args: CmdArgs, timeoutMs: number): Answer {
  const deadline = Date.now() + timeoutMs;
  const call = encodeCall(method, args);
  const preamble = CONNECT_REQUEST.length;
  sys.send(fd, call.subarray(0, preamble));
  const buf = new Uint8Array(65536);
  let head: Buffer | undefined = Buffer.alloc(0);
  const reader = new PairReader();
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0 || !sys.waitReadable(fd, left)) {
      throw new CniError(ErrorCode.TryAgainLater, `error calling ${method}: no answer from the DHCP daemon at ${socketPath} within ${Math.round(timeoutMs / 1000)}s`);
    }
    const n = sys.recvBlocking(fd, buf);
    if (n === 0) throw pluginError(`error calling ${method}: the DHCP daemon at ${socketPath} closed the connection`);
    let data: Buffer = Buffer.from(buf.subarray(0, n));
    if (head) {
      head = Buffer.concat([head, data]);
      const end = head.indexOf('\n\n');
      if (end < 0) {
        if (head.length > 8192) throw pluginError(`error dialing DHCP daemon: ${socketPath} does not speak Go RPC over HTTP`);
        continue;
      }
      const status = head.subarray(0, end).toString('latin1').replace(/\r/g, '').split('\n')[0]!.replace(/^HTTP\/\d\.\d /, '');
      if (status !== CONNECTED_STATUS) throw pluginError(`error dialing DHCP daemon: unexpected HTTP response: ${status}`);
      data = head.subarray(end + 2);
      head = undefined;
      sys.send(fd, call.subarray(preamble));
    }
    if (!data.length) continue;
    const pairs = reader.push(new Uint8Array(data));
    if (pairs.length) return answerFrom(pairs[0]!);
  }
}
