/**
 * A stand-in for the kernel behind lib/rtnetlink's socket, for unit tests without root: `kernel` answers each request
 * (parsed) with the messages the kernel would send — objects, then NLMSG_DONE for a dump, or an NLMSG_ERROR — and the
 * channel hands them to lib/rtnetlink/run.ts's `execute` as the socket would.
 */
import type { Channel } from '../../lib/rtnetlink/run.js';
import { message, parseAck, parseDone, parseMessages, NLMSG_DONE, NLMSG_ERROR, type Message } from '../../lib/rtnetlink/wire.js';

/** An NLMSG_ERROR answer: 0 (an ACK) or an errno, with the (capped) request header after it. */
export const errorMessage = (errno: number): Uint8Array => message(NLMSG_ERROR, 0, new Uint8Array([...new Uint8Array(new Int32Array([-errno]).buffer), ...new Uint8Array(16)]));
/** The end of a dump. */
export const doneMessage = (): Uint8Array => message(NLMSG_DONE, 0, new Uint8Array(4));

const TEXTS: Record<number, string> = { 2: 'No such file or directory', 19: 'No such device', 101: 'Network is unreachable' };

export function fakeChannel(kernel: (req: Message) => Uint8Array[]): Channel {
  const answer = (msg: Uint8Array): Message[] => parseMessages(Buffer.concat(kernel(parseMessages(msg)[0]!)));
  return {
    strerror: (errno) => TEXTS[errno] ?? `errno ${errno}`,
    request: (msg) => {
      const err = answer(msg).find((m) => m.type === NLMSG_ERROR);
      return err ? parseAck(err) : { error: 0 };
    },
    get: (msg) => {
      const got = answer(msg);
      return got.find((m) => m.type !== NLMSG_ERROR && m.type !== NLMSG_DONE) ?? parseAck(got.find((m) => m.type === NLMSG_ERROR)!);
    },
    dump: (msg) => {
      const got = answer(msg);
      const err = got.find((m) => m.type === NLMSG_ERROR);
      const done = got.find((m) => m.type === NLMSG_DONE);
      const messages = got.filter((m) => m.type !== NLMSG_ERROR && m.type !== NLMSG_DONE);
      if (err) return { messages, error: parseAck(err), interrupted: false };
      const end = done ? parseDone(done) : { error: 0 };
      return end.error < 0 ? { messages, error: end, interrupted: false } : { messages, interrupted: false };
    },
  };
}
