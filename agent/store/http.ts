/**
 * JSON over HTTP(S) with node:http / node:https only (runs under Node and Bun): one-shot requests, and streams of
 * newline-delimited JSON objects (etcd's /v3/watch, Kubernetes' ?watch=1).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TlsMaterial } from './tls.js';

export interface HttpOptions {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: unknown;
  /** PEM CA bundle for https. */
  ca?: string;
  /** https: CA, client certificate and key, verification settings (tls.ts). */
  tls?: TlsMaterial;
  /** Milliseconds until a one-shot request (or a stream's connect + headers) is abandoned. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly url: string,
  ) {
    super(`HTTP ${status} from ${url}: ${body.slice(0, 300).trim()}`);
  }
}

/** node:https options from `ca` and `tls`, leaving out what is not set. */
function tlsOptions(o: HttpOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (o.ca) out.ca = o.ca;
  for (const [k, v] of Object.entries(o.tls ?? {})) if (v !== undefined) out[k] = v;
  return out;
}

/** Starts a request; the timeout covers the whole exchange, or only until the headers for a stream. */
function open(o: HttpOptions, onResponse: (res: IncomingMessage) => void, onError: (e: Error) => void, stream = false): () => void {
  const payload = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  const headers: Record<string, string> = { accept: 'application/json', ...o.headers };
  if (payload !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  const https = o.url.protocol === 'https:';
  let done = false;
  const fail = (e: Error): void => {
    if (done) return;
    done = true;
    onError(e);
  };
  let req: ReturnType<typeof httpRequest>;
  try {
    req = (https ? httpsRequest : httpRequest)(o.url, { method: o.method, headers, ...(https ? tlsOptions(o) : {}) }, onResponse);
  } catch (e) {
    // node:https refuses some TLS material before connecting (a key that does not match its certificate).
    queueMicrotask(() => fail(e as Error));
    return () => undefined;
  }
  req.on('error', fail);
  const timer = o.timeoutMs ? setTimeout(() => req.destroy(new Error(`no answer from ${o.url.origin} within ${o.timeoutMs} ms`)), o.timeoutMs) : undefined;
  if (stream) req.on('response', () => timer && clearTimeout(timer));
  req.on('close', () => timer && clearTimeout(timer));
  // Destroyed without an error: an error here would be emitted on the (TLS) socket after the response began, where
  // nothing listens for it, and take the whole agent down.
  const abort = (): void => {
    fail(new Error('aborted'));
    req.destroy();
  };
  req.on('socket', (sock) => sock.on('error', () => undefined));
  o.signal?.addEventListener('abort', abort, { once: true });
  req.on('close', () => o.signal?.removeEventListener('abort', abort));
  req.end(payload);
  return abort;
}

/** One request; resolves with the parsed JSON body of a 2xx answer, rejects with HttpError otherwise. */
export function requestJSON<T = any>(o: HttpOptions): Promise<T> {
  return new Promise((resolve, reject) => {
    open(
      o,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) return reject(new HttpError(status, text, o.url.href));
          try {
            resolve((text ? JSON.parse(text) : {}) as T);
          } catch (e) {
            reject(new Error(`bad JSON from ${o.url.href}: ${(e as Error).message}`));
          }
        });
      },
      reject,
    );
  });
}

/** Splits a byte stream into JSON objects, one per line. */
export class LineDecoder {
  private buf = '';
  push(chunk: string): unknown[] {
    this.buf += chunk;
    const out: unknown[] = [];
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line) out.push(JSON.parse(line));
    }
    return out;
  }
}

export interface Stream {
  /** Resolves when the stream ends (cleanly or not): the reason, or undefined when the server closed it. */
  readonly done: Promise<Error | undefined>;
  close(): void;
}

/**
 * A request whose answer is a stream of JSON lines; `onObject` is called for each. A non-2xx answer ends the stream
 * with an HttpError. `done` never rejects.
 */
export function streamJSON(o: HttpOptions, onObject: (obj: any) => void): Stream {
  let finish!: (e: Error | undefined) => void;
  const done = new Promise<Error | undefined>((r) => (finish = r));
  let ended = false;
  const end = (e: Error | undefined): void => {
    if (ended) return;
    ended = true;
    finish(e);
  };
  const abort = open(
    o,
    (res) => {
      const status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      if (status < 200 || status > 299) {
        let text = '';
        res.on('data', (c: string) => (text += c));
        res.on('end', () => end(new HttpError(status, text, o.url.href)));
        res.on('error', end);
        return;
      }
      const dec = new LineDecoder();
      res.on('data', (c: string) => {
        try {
          for (const obj of dec.push(c)) onObject(obj);
        } catch (e) {
          end(e as Error);
          abort();
        }
      });
      res.on('end', () => end(undefined));
      res.on('error', end);
      res.on('close', () => end(new Error('stream closed')));
    },
    end,
    true,
  );
  return {
    done,
    close: () => {
      end(new Error('closed'));
      abort();
    },
  };
}

/** Exponential backoff: 1 s, 2 s, 4 s … capped. */
export class Backoff {
  private n = 0;
  constructor(
    private readonly baseMs = 1000,
    private readonly maxMs = 30_000,
  ) {}
  next(): number {
    const ms = Math.min(this.maxMs, this.baseMs * 2 ** this.n);
    this.n = Math.min(this.n + 1, 20);
    return ms;
  }
  reset(): void {
    this.n = 0;
  }
}

/** Sleep that ends early (resolving false) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A short description of a network error for logs ("connect ECONNREFUSED 10.0.0.1:2379"). */
export const describeError = (e: unknown): string => (e instanceof Error ? e.message : String(e));
