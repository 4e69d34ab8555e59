/**
 * etcd's user/password authentication over the JSON gateway: POST /v3/auth/authenticate {name, password} answers a
 * token, sent as the `Authorization` header of every later request (the gateway passes it on as the gRPC token).
 * Tokens expire (etcd's `--auth-token-ttl` after the last use for simple tokens, the JWT's lifetime otherwise): a
 * request answered "invalid auth token" gets a fresh token and is sent once more (EtcdClient.call).
 *
 * When etcd answers "authentication is not enabled", requests go without a token (logged once) until etcd asks for
 * one ("user name is empty"): then the agent authenticates again.
 */

export interface EtcdCredentials {
  username: string;
  password: string;
}

/** etcd's answer to a request with a bad or missing token, or to a user without permission (gRPC code, message). */
export const isTokenProblem = (code: number, message: string): boolean => code === 16 || /invalid auth token|user name is empty|auth token is not found/.test(message);

/**
 * A clearer line for etcd's authentication and permission errors (the etcd message first, so callers matching on it
 * keep working), or undefined for other errors.
 */
export function explainAuthError(message: string, path: string, username: string | undefined): string | undefined {
  if (/user name is empty|auth token is not found/.test(message)) {
    return username ? undefined : `${message} (etcd has authentication enabled: give --etcd-username and --etcd-password)`;
  }
  if (/invalid user ID or password|authentication failed/.test(message)) return `${message} (etcd rejected --etcd-username ${JSON.stringify(username ?? '')} with the --etcd-password given)`;
  if (/permission denied/.test(message)) {
    return `${message} (etcd user ${JSON.stringify(username ?? '')} may not ${path}: grant its role read and write on the --etcd-prefix keys)`;
  }
  if (/CommonName of client sending a request against gateway/.test(message)) {
    return "etcd refuses JSON-gateway requests whose client certificate has a CommonName while its authentication is on (etcd 3.4): use --etcd-username/--etcd-password with a client certificate without a CN, or without --etcd-certfile";
  }
  return undefined;
}

export class EtcdAuth {
  private token: string | undefined;
  private disabled = false;
  private pending: Promise<void> | undefined;
  /** Tokens obtained so far (1 = the first; more = refreshed after one expired). */
  authentications = 0;

  constructor(
    readonly credentials: EtcdCredentials,
    private readonly log: (msg: string) => void,
  ) {}

  /** The header to send now, authenticating first when there is no token (one authentication at a time). */
  async headers(authenticate: (body: unknown) => Promise<any>): Promise<Record<string, string>> {
    if (!this.token && !this.disabled) {
      this.pending ??= this.authenticate(authenticate).finally(() => (this.pending = undefined));
      await this.pending;
    }
    return this.cachedHeaders();
  }

  /** The header with the token held now (for streams opened right after a unary call). */
  cachedHeaders(): Record<string, string> {
    return this.token ? { authorization: this.token } : {};
  }

  /** The token was refused (expired) or etcd now wants one: authenticate again before the next request. */
  invalidate(): void {
    this.token = undefined;
    this.disabled = false;
  }

  private async authenticate(post: (body: unknown) => Promise<any>): Promise<void> {
    try {
      const r = await post({ name: this.credentials.username, password: this.credentials.password });
      if (typeof r?.token !== 'string' || !r.token) throw new Error(`etcd answered no token to the authentication of user ${JSON.stringify(this.credentials.username)}`);
      this.token = r.token;
      this.authentications++;
      const user = JSON.stringify(this.credentials.username);
      this.log(this.authentications === 1 ? `authenticated to etcd as user ${user}` : `etcd token of user ${user} refused (expired): authenticated again`);
    } catch (e) {
      if (/authentication is not enabled/.test((e as Error).message)) {
        if (!this.disabled) this.log(`etcd has authentication disabled: sending requests without the --etcd-username ${JSON.stringify(this.credentials.username)} token`);
        this.disabled = true;
        return;
      }
      throw e;
    }
  }
}
