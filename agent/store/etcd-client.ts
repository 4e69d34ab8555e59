/**
 * A small etcd v3 client over etcd's JSON gRPC gateway (etcd ≥ 3.4: POST [CLIENT-URL]/v3/<service>/<method>).
 * Keys and values are base64 in JSON; 64-bit integers come back as strings ("revision": "5") and fields holding their
 * default value are left out (a failed txn has no "succeeded", a lost lease's keep-alive answer no "TTL").
 * Endpoints are tried in turn: a connection error moves on to the next one.
 */
import { streamJSON, requestJSON, HttpError, type Stream } from './http.js';
import { EtcdAuth, explainAuthError, isTokenProblem } from './etcd-auth.js';
import { describeTlsError, type TlsSource } from './tls.js';

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
export const unb64 = (s: string | undefined): string => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

/** The range_end that selects every key starting with `prefix` (prefix with its last byte + 1). */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8');
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i]! += 1;
      return end.toString('base64');
    }
  }
  return Buffer.from([0]).toString('base64');
}

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  lease: string;
}

export function decodeKV(kv: any): KeyValue {
  return {
    key: unb64(kv.key),
    value: unb64(kv.value),
    createRevision: Number(kv.create_revision ?? 0),
    modRevision: Number(kv.mod_revision ?? 0),
    lease: String(kv.lease ?? '0'),
  };
}

export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  kv: KeyValue;
  prev?: KeyValue;
}

/** etcd's own error answer ({"error", "code", "message"}, e.g. "etcdserver: requested lease not found", code 5). */
export class EtcdError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** A txn comparison, in the gateway's JSON. */
export type Compare = Record<string, unknown>;
export const createdAt = (key: string, rev: number): Compare => ({ key: b64(key), target: 'CREATE', result: 'EQUAL', create_revision: String(rev) });
export const modifiedAt = (key: string, rev: number): Compare => ({ key: b64(key), target: 'MOD', result: 'EQUAL', mod_revision: String(rev) });
export const putOp = (key: string, value: string, lease?: string): Record<string, unknown> => ({
  request_put: { key: b64(key), value: b64(value), ...(lease && lease !== '0' ? { lease } : {}) },
});
export const deleteOp = (key: string): Record<string, unknown> => ({ request_delete_range: { key: b64(key) } });

/** How requests reach etcd beyond the URL: TLS material (https) and user/password authentication. */
export interface EtcdTransport {
  tls?: TlsSource;
  auth?: EtcdAuth;
}

/** etcd's JSON error body ({"error", "code", "message"}), or undefined. */
function etcdErrorOf(body: string | undefined): { code: number; message: string } | undefined {
  if (!body) return undefined;
  try {
    const parsed = JSON.parse(body);
    if (parsed && typeof parsed.message === 'string') return { code: Number(parsed.code ?? 0), message: parsed.message };
  } catch {
    /* not etcd's JSON */
  }
  return undefined;
}

/**
 * etcd's JSON gateway answers 503 "connection closed" (gRPC Unavailable) when it cannot reach its own gRPC server —
 * with --client-cert-auth, when etcd's server certificate does not also allow client authentication.
 */
export function explainGateway(code: number, message: string): string | undefined {
  if (code === 14 && /connection closed/.test(message)) {
    return `${message} (etcd's JSON gateway cannot reach etcd's own gRPC port: with --client-cert-auth, etcd's server certificate must also allow client authentication, extendedKeyUsage clientAuth)`;
  }
  return undefined;
}

export class EtcdClient {
  private current = 0;

  constructor(
    readonly endpoints: readonly string[],
    private readonly timeoutMs = 5000,
    private readonly transport: EtcdTransport = {},
  ) {}

  /** TLS options for the next request (files re-read when changed). */
  private tls(): ReturnType<TlsSource['material']> | undefined {
    return this.transport.tls?.material();
  }

  /** The error to throw for a failed request: etcd's own errors as EtcdError (explained), TLS problems named. */
  private explain(e: unknown, path: string): Error {
    const body = (e as { body?: string }).body;
    const user = this.transport.auth?.credentials.username;
    const ee = etcdErrorOf(body);
    if (ee) return new EtcdError(ee.code, explainAuthError(ee.message, path, user) ?? explainGateway(ee.code, ee.message) ?? ee.message);
    if (e instanceof HttpError) {
      const why = explainAuthError(body ?? '', path, user);
      if (why) return new EtcdError(e.status, why);
    }
    const tls = describeTlsError(e, this.transport.tls?.origin ?? {});
    return tls ? new Error(tls) : (e as Error);
  }

  get endpoint(): string {
    return this.endpoints[this.current % this.endpoints.length]!;
  }

  private url(path: string): URL {
    return new URL(`/v3/${path}`, this.endpoint);
  }

  /**
   * One unary call; connection errors rotate to the next endpoint before the error is thrown. With authentication, a
   * refused token (expired) is replaced and the call sent once more.
   */
  async call(path: string, body: unknown, signal?: AbortSignal, retried = false): Promise<any> {
    const auth = this.transport.auth;
    try {
      const headers = auth ? await auth.headers((creds) => this.post('auth/authenticate', creds, {}, signal)) : {};
      return await this.post(path, body, headers, signal);
    } catch (e) {
      const err = this.explain(e, path);
      if (err instanceof EtcdError) {
        if (auth && !retried && isTokenProblem(err.code, err.message)) {
          auth.invalidate();
          return this.call(path, body, signal, true);
        }
        throw err;
      }
      this.current++;
      throw err;
    }
  }

  private post(path: string, body: unknown, headers: Record<string, string>, signal?: AbortSignal): Promise<any> {
    return requestJSON({ method: 'POST', url: this.url(path), body, headers, tls: this.tls(), timeoutMs: this.timeoutMs, signal });
  }

  async range(key: string, opts: { prefix?: boolean } = {}, signal?: AbortSignal): Promise<{ kvs: KeyValue[]; revision: number }> {
    const r = await this.call('kv/range', { key: b64(key), ...(opts.prefix ? { range_end: prefixEnd(key) } : {}) }, signal);
    return { kvs: (r.kvs ?? []).map(decodeKV), revision: Number(r.header?.revision ?? 0) };
  }

  async put(key: string, value: string, lease?: string, signal?: AbortSignal): Promise<void> {
    await this.call('kv/put', (putOp(key, value, lease) as any).request_put, signal);
  }

  /** A transaction; returns whether the comparisons held and the decoded range responses. */
  async txn(compare: Compare[], success: Array<Record<string, unknown>>, failure: Array<Record<string, unknown>> = [], signal?: AbortSignal): Promise<{ succeeded: boolean; ranges: KeyValue[][] }> {
    const r = await this.call('kv/txn', { compare, success, failure }, signal);
    const ranges = (r.responses ?? []).filter((x: any) => x.response_range).map((x: any) => (x.response_range.kvs ?? []).map(decodeKV));
    return { succeeded: r.succeeded === true, ranges };
  }

  async grant(ttlSeconds: number, signal?: AbortSignal): Promise<{ id: string; ttl: number }> {
    const r = await this.call('lease/grant', { TTL: String(ttlSeconds) }, signal);
    return { id: String(r.ID), ttl: Number(r.TTL ?? 0) };
  }

  /** One keep-alive round trip. Returns the TTL granted; 0 means the lease no longer exists. */
  async keepAlive(id: string, signal?: AbortSignal): Promise<number> {
    const r = await this.call('lease/keepalive', { ID: id }, signal);
    if (r.error) throw new EtcdError(Number(r.error.grpc_code ?? r.error.code ?? 0), String(r.error.message ?? JSON.stringify(r.error)));
    return Number(r.result?.TTL ?? 0);
  }

  /** A lease's remaining and granted TTL in seconds; remaining -1 when the lease does not exist. */
  async timeToLive(id: string, signal?: AbortSignal): Promise<{ ttl: number; granted: number }> {
    const r = await this.call('lease/timetolive', { ID: id }, signal);
    return { ttl: Number(r.TTL ?? -1), granted: Number(r.grantedTTL ?? 0) };
  }

  /** Revoke a lease (its keys go with it); a lease already gone is not an error. */
  async revoke(id: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.call('lease/revoke', { ID: id }, signal);
    } catch (e) {
      if (e instanceof EtcdError && /lease not found/.test(e.message)) return;
      throw e;
    }
  }

  /**
   * Watch every key under `prefix` from `startRevision`, with progress notifications (etcd sends one every
   * --experimental-watch-progress-notify-interval, 10 min by default, while nothing changes). Each answer's events go
   * to `onEvents`; every message (created, events, progress) to `onMessage`, so a silent stream can be told apart from
   * a quiet one. A compaction or a cancel by the server ends the stream with an error.
   */
  watch(prefix: string, startRevision: number, onEvents: (events: WatchEvent[], revision: number) => void, onMessage?: () => void): Stream {
    let failure: Error | undefined;
    const s = streamJSON(
      {
        method: 'POST',
        url: this.url('watch'),
        headers: this.transport.auth?.cachedHeaders(),
        tls: this.tls(),
        body: { create_request: { key: b64(prefix), range_end: prefixEnd(prefix), start_revision: String(startRevision), prev_kv: true, progress_notify: true } },
        timeoutMs: this.timeoutMs,
      },
      (msg) => {
        onMessage?.();
        if (msg.error) throw new EtcdError(Number(msg.error.grpc_code ?? msg.error.code ?? 0), String(msg.error.message));
        const r = msg.result ?? {};
        if (r.canceled) {
          failure = new Error(r.compact_revision ? `watch canceled: revision ${startRevision} compacted (now ${r.compact_revision})` : `watch canceled by the server: ${r.cancel_reason ?? ''}`);
          throw failure;
        }
        const events: WatchEvent[] = (r.events ?? []).map((ev: any) => ({
          type: ev.type === 'DELETE' ? 'DELETE' : 'PUT',
          kv: decodeKV(ev.kv),
          prev: ev.prev_kv ? decodeKV(ev.prev_kv) : undefined,
        }));
        if (events.length) onEvents(events, Number(r.header?.revision ?? 0));
      },
    );
    s.done.then((e) => {
      if (e && !failure && /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|no answer/.test(e.message)) this.current++;
      // A refused token ends the stream: the next list authenticates again before the next watch.
      if (e && /invalid auth token|user name is empty/.test(`${e.message} ${(e as { body?: string }).body ?? ''}`)) this.transport.auth?.invalidate();
    });
    return {
      close: () => s.close(),
      done: s.done.then((e) => (e ? this.explain(e, 'watch') : e)),
    };
  }
}
