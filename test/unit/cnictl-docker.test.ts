/** The pure parts of cnictl's Docker habits: -p 0 and host ranges, logs records, --ip in a widened range, network IDs, settings, ps rows and filters, inspect's shape, run's option checks. */
import { describe, expect, it } from 'vitest';
import { parsePublish } from '../../cli/sandbox/ports.js';
import { betweenTimes, LogWriter, parseLog, parseLogTime, parseTail, tail, type LogRecord } from '../../cli/sandbox/logs.js';
import { widenForStaticIps, sameIp } from '../../cli/network/static-ip.js';
import { resolveNetworkName } from '../../cli/network/resolve.js';
import { networkId } from '../../cli/network/model.js';
import { parseSettings } from '../../cli/network/store.js';
import { confListFromBytes } from '../../cli/runtime/conffiles.js';
import { psFilter, psRow } from '../../cli/commands/ps.js';
import { inspectSandbox } from '../../cli/sandbox/inspect.js';
import { checkRun } from '../../cli/sandbox/options.js';
import { commandEnv } from '../../cli/sandbox/lifecycle.js';
import type { SandboxState } from '../../cli/sandbox/state.js';
import { parseTemplate } from '../../cli/util/template.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const sandbox = (over: Partial<SandboxState> = {}): SandboxState => ({
  id: 'a'.repeat(64),
  name: 'web',
  command: ['node', 'server.js', '--port', '80'],
  created: '2024-05-01T10:00:00.000Z',
  started: '2024-05-01T10:00:01.000Z',
  status: 'exited',
  exitCode: 3,
  finished: '2024-05-01T10:01:00.000Z',
  mode: 'network',
  ownNetns: true,
  netns: '/run/netns/cnictl-aaaaaaaaaaaa',
  hostname: 'web.example.test',
  attachments: [
    { network: 'app', ifname: 'eth0', ips: ['10.80.0.5/24', 'fd00:80::5/64'], mac: '02:42:0a:50:00:05', requestedIp: '10.80.0.5', aliases: ['www'] },
    { network: 'bridge', ifname: 'eth1', ips: ['172.17.0.2/16'], mac: '02:42:ac:11:00:02' },
  ],
  ports: [{ hostIP: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
  publish: ['8080:80', '9100-9102:81/udp'],
  dns: ['10.0.0.53'],
  dnsSearch: [],
  dnsOptions: ['ndots:2'],
  addHosts: ['db=10.9.9.9'],
  env: ['FOO=bar'],
  detached: true,
  autoRemove: false,
  interactive: true,
  tty: true,
  ...over,
});

describe('-p 0:80 and -p 9100-9102:80 (Docker)', () => {
  it('0 is any free host port; a host range for one container port is the first free of that range', () => {
    expect(parsePublish('0:80')).toEqual([{ hostIP: '', hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePublish('127.0.0.1:9100-9102:80/udp')).toEqual([{ hostIP: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'udp', hostRange: [9100, 9102] }]);
    expect(parsePublish('8080-8081:80-81').map((m) => [m.hostPort, m.containerPort])).toEqual([[8080, 80], [8081, 81]]);
    expect(() => parsePublish('9100-9102:80-81')).toThrow('host range and container range differ in length');
    expect(() => parsePublish('0-2:80')).toThrow('host port "0" is not a port number (1-65535)');
    expect(() => parsePublish('80:0')).toThrow('container port "0" is not a port number (1-65535)');
  });
});

describe('logs: json-file records, stdout and stderr apart, --tail', () => {
  it('LogWriter writes one record per line (a partial line waits for its end), parseLog reads them back', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'cnictl-log-')), 'log');
    const w = new LogWriter(f);
    w.write('stdout', 'one\ntw');
    w.write('stderr', 'oops\n');
    w.write('stdout', 'o\nthree');
    w.close();
    const { records, rest } = parseLog(readFileSync(f, 'utf8') + 'raw supervisor line\n{"half');
    expect(records.map((r) => [r.stream, r.log])).toEqual([
      ['stdout', 'one\n'],
      ['stderr', 'oops\n'],
      ['stdout', 'two\n'],
      ['stdout', 'three'],
      ['stderr', 'raw supervisor line\n'],
    ]);
    expect(records[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(rest).toBe('{"half');
  });

  it('--tail N counts lines (a record without newline belongs to the next), "all" and 0', () => {
    const r = (log: string) => ({ log, stream: 'stdout' as const, time: '' });
    const recs = [r('a\n'), r('b1'), r('b2\n'), r('c\n')];
    expect(tail(recs, 1).map((x) => x.log)).toEqual(['c\n']);
    expect(tail(recs, 2).map((x) => x.log)).toEqual(['b1', 'b2\n', 'c\n']);
    expect(tail(recs, 9)).toHaveLength(4);
    expect(tail(recs, 0)).toEqual([]);
    expect(parseTail('all')).toBeUndefined();
    expect(parseTail('5')).toBe(5);
    expect(parseTail('x')).toBeNaN();
  });
});

describe('logs --since/--until (docker logs times)', () => {
  const now = Date.parse('2026-12-07T08:00:00.000Z');
  it('durations before now, Go style', () => {
    expect(parseLogTime('10m', now)).toBe(now - 600_000);
    expect(parseLogTime('1h30m', now)).toBe(now - 5_400_000);
    expect(parseLogTime('42s', now)).toBe(now - 42_000);
    expect(parseLogTime('1.5h', now)).toBe(now - 5_400_000);
    expect(parseLogTime('250ms', now)).toBe(now - 250);
    expect(parseLogTime('1m0.5s', now)).toBe(now - 60_500);
    expect(parseLogTime('2000us', now)).toBe(now - 2);
    expect(parseLogTime('-1m', now)).toBe(now + 60_000); // Go's sign: a minute from now
  });
  it('Unix timestamps, with a decimal fraction ("0" is the epoch, as Docker)', () => {
    expect(parseLogTime('1765094400', now)).toBe(1765094400_000);
    expect(parseLogTime('1765094400.5', now)).toBe(1765094400_500);
    expect(parseLogTime('0', now)).toBe(0);
  });
  it('RFC 3339 times: Z, fraction, numeric offset; Docker’s shorter forms; no zone is local time', () => {
    expect(parseLogTime('2026-12-07T08:00:00Z', now)).toBe(now);
    expect(parseLogTime('2026-12-07T08:00:00.25Z', now)).toBe(now + 250);
    expect(parseLogTime('2026-12-07T08:00:00.123456789Z', now)).toBeCloseTo(now + 123.456789, 3);
    expect(parseLogTime('2026-12-07T09:30:00+01:30', now)).toBe(now);
    expect(parseLogTime('2026-12-07T07:00:00.5-01:00', now)).toBe(now + 500);
    expect(parseLogTime('2026-12-07T08:00Z', now)).toBe(now);
    expect(parseLogTime('2026-12-07T08Z', now)).toBe(now);
    expect(parseLogTime('2026-12-07T08:00:00', now)).toBe(new Date(2026, 11, 7, 8, 0, 0).getTime());
    expect(parseLogTime('2026-12-07', now)).toBe(new Date(2026, 11, 7).getTime());
  });
  it('anything else is refused (undefined)', () => {
    for (const bad of ['', 'yesterday', '10x', '1h-5m', 'm', '2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-12-07T24:00:00Z', '2026-12-07T08:00:00+0100', '2026-12-07 08:00:00Z', '-1765094400', '1e9']) {
      expect(parseLogTime(bad, now), bad).toBeUndefined();
    }
    expect(parseLogTime('10', now)).toBe(10_000); // a number alone is a Unix timestamp, not a duration
  });
  it('records at or after --since and at or before --until; untimed ones only without bounds', () => {
    const r = (time: string, log: string): LogRecord => ({ log, stream: 'stdout', time });
    const recs = [r('2026-12-07T08:00:00.000Z', 'a\n'), r('2026-12-07T08:00:05.000Z', 'b\n'), r('', 'cnictl note\n'), r('2026-12-07T08:00:10.000Z', 'c\n')];
    const logs = (since?: number, until?: number) => betweenTimes(recs, since, until).map((x) => x.log.trim());
    expect(logs()).toEqual(['a', 'b', 'cnictl note', 'c']);
    expect(logs(now + 5000)).toEqual(['b', 'c']);
    expect(logs(undefined, now + 5000)).toEqual(['a', 'b']);
    expect(logs(now + 1, now + 9999)).toEqual(['b']);
    // Docker's order with --tail: the time window first, then the last N of it
    expect(tail(betweenTimes(recs, undefined, now + 5000), 1).map((x) => x.log)).toEqual(['b\n']);
  });
});

describe('--ip outside --ip-range, inside the subnet (allowed as Docker allows it)', () => {
  const list = confListFromBytes(
    JSON.stringify({ cniVersion: '1.0.0', name: 'app', plugins: [{ type: 'bridge', ipam: { type: 'host-local', ranges: [[{ subnet: '10.80.0.0/24', rangeStart: '10.80.0.128', rangeEnd: '10.80.0.254', gateway: '10.80.0.1' }], [{ subnet: 'fd00:80::/64' }]] } }, { type: 'portmap' }] }),
    '/x/app.conflist',
  );
  it('widens only the range that contains the address, for that ADD', () => {
    const w = widenForStaticIps(list, ['10.80.0.5']);
    expect((w.plugins[0]!.ipam as any).ranges).toEqual([[{ subnet: '10.80.0.0/24', gateway: '10.80.0.1' }], [{ subnet: 'fd00:80::/64' }]]);
    expect(JSON.parse(w.bytes).plugins[0].ipam.ranges[0][0]).not.toHaveProperty('rangeStart');
    expect(widenForStaticIps(list, ['10.80.0.200'])).toBe(list); // inside the range: unchanged
    expect(widenForStaticIps(list, ['10.99.0.1'])).toBe(list); // not in the subnet: host-local says so
    expect(sameIp('fd00:80::5/64', 'fd00:80:0::5')).toBe(true);
  });
});

describe('network IDs and unique prefixes, as Docker resolves them', () => {
  it('a name, the full ID, a unique prefix; an ambiguous prefix is an error naming the matches', () => {
    const names = ['app', 'db'];
    expect(resolveNetworkName('app', names)).toBe('app');
    expect(resolveNetworkName(networkId('app'), names)).toBe('app');
    expect(resolveNetworkName(networkId('db').slice(0, 12), names)).toBe('db');
    expect(resolveNetworkName(networkId('host').slice(0, 6), names)).toBe('host');
    expect(resolveNetworkName(networkId('bridge').slice(0, 12), names)).toBe('bridge');
    expect(resolveNetworkName('nosuch', names)).toBe('nosuch');
    const many = Array.from({ length: 40 }, (_, i) => `n${i}`);
    // 40 names, 16 first hex digits: some digit starts two IDs
    const digit = [...'0123456789abcdef'].find((d) => many.filter((n) => networkId(n)[0] === d).length > 1)!;
    expect(() => resolveNetworkName(digit, many)).toThrow(/is ambiguous \(\d+ matches found based on ID prefix/);
  });
});

describe('/etc/cnictl/config.json', () => {
  it("daemon.json's keys cnictl supports, each checked; any other key refused, naming it", () => {
    expect(parseSettings({ bip: '10.5.0.1/24', mtu: 1400, 'fixed-cidr': '10.5.0.128/25', 'ip-masq': false, dns: ['10.0.0.53'], 'dns-search': ['corp'], 'dns-opts': ['ndots:2'] }, 'f')).toEqual({
      bip: '10.5.0.1/24',
      mtu: 1400,
      fixedCidr: '10.5.0.128/25',
      ipMasq: false,
      dns: ['10.0.0.53'],
      dnsSearch: ['corp'],
      dnsOptions: ['ndots:2'],
    });
    expect(() => parseSettings({ mtu: 1400, 'default-gateway': '10.0.0.1' }, '/etc/cnictl/config.json')).toThrow('"default-gateway" in /etc/cnictl/config.json is not supported by cnictl (it knows bip, mtu, fixed-cidr, ip-masq, dns, dns-search, dns-opts): remove it');
    expect(() => parseSettings({ mtu: '1400' }, 'f')).toThrow('"mtu" in f must be a number from 68 to 65535');
    expect(() => parseSettings({ dns: '10.0.0.53' }, 'f')).toThrow('"dns" in f must be a list of strings');
    expect(() => parseSettings({ dns: ['dns.example'] }, 'f')).toThrow('"dns" in f: "dns.example" is not an IP address');
    expect(() => parseSettings([], 'f')).toThrow('must be a JSON object');
  });
});

describe('ps rows (Docker --format json fields) and filters', () => {
  const now = Date.parse('2024-05-01T10:01:05.000Z');
  it('State running/exited, Status "Exited (3) 5 seconds ago", no PORTS once exited, truncation', () => {
    const row = psRow(sandbox(), now, false);
    expect(row).toEqual({
      ID: 'aaaaaaaaaaaa',
      Names: 'web',
      Command: '"node server.js --po…"',
      CreatedAt: '2024-05-01 10:00:00 +0000 UTC',
      RunningFor: 'About a minute ago',
      Ports: '',
      State: 'exited',
      Status: 'Exited (3) 5 seconds ago',
      Networks: 'app,bridge',
    });
    expect(psRow(sandbox(), now, true)).toMatchObject({ ID: 'a'.repeat(64), Command: '"node server.js --port 80"' });
  });

  it('name (part or regex), status, network (name or ID prefix), id, exited; same key OR, different keys AND', () => {
    const s = sandbox();
    const t = sandbox({ name: 'db', id: 'b'.repeat(64), exitCode: 0, attachments: [{ network: 'db-net', ifname: 'eth0', ips: [] }] });
    const m = (...f: string[]) => [s, t].filter(psFilter(f).match).map((x) => x.name);
    expect(m('name=we')).toEqual(['web']);
    expect(m('name=^d')).toEqual(['db']);
    expect(m('name=web', 'name=db')).toEqual(['web', 'db']);
    expect(m('status=exited', 'network=app')).toEqual(['web']);
    expect(m(`network=${networkId('db-net').slice(0, 12)}`)).toEqual(['db']);
    expect(m('status=running')).toEqual([]);
    expect(m('id=bbb')).toEqual(['db']);
    expect(m('exited=3')).toEqual(['web']);
    expect(psFilter(['status=exited']).hasStatus).toBe(true);
    expect(() => psFilter(['label=x'])).toThrow("invalid filter 'label'");
    expect(() => psFilter(['name'])).toThrow('bad format of filter "name" (expected KEY=VALUE');
  });
});

describe("inspect: Docker's container shape", () => {
  it('State, Config, HostConfig, NetworkSettings.Networks with addresses, gateways, aliases, IDs; templates over it', () => {
    const o = inspectSandbox({
      s: sandbox(),
      network: (n) => (n === 'app' ? { id: networkId('app'), gateway4: '10.80.0.1', gateway6: 'fd00:80::1' } : n === 'bridge' ? { id: networkId('bridge'), gateway4: '172.17.0.1' } : undefined),
      files: { resolv: '/r', hosts: '/h', hostname: '/n', log: '/l' },
      running: false,
    }) as any;
    expect(o).toMatchObject({
      Id: 'a'.repeat(64),
      Name: '/web',
      Path: 'node',
      Args: ['server.js', '--port', '80'],
      State: { Status: 'exited', Running: false, Pid: 0, ExitCode: 3, StartedAt: '2024-05-01T10:00:01.000Z', FinishedAt: '2024-05-01T10:01:00.000Z' },
      Config: { Hostname: 'web.example.test', Cmd: ['node', 'server.js', '--port', '80'], Tty: true, OpenStdin: true, Env: ['FOO=bar'] },
      HostConfig: { NetworkMode: 'app', Dns: ['10.0.0.53'], DnsOptions: ['ndots:2'], DnsSearch: [], ExtraHosts: ['db=10.9.9.9'], PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }], '81/udp': [{ HostIp: '', HostPort: '9100-9102' }] } },
      NetworkSettings: { Ports: {}, IPAddress: '172.17.0.2', IPPrefixLen: 16, Gateway: '172.17.0.1', MacAddress: '02:42:ac:11:00:02' },
    });
    expect(o.NetworkSettings.Networks.app).toMatchObject({ IPAddress: '10.80.0.5', IPPrefixLen: 24, Gateway: '10.80.0.1', GlobalIPv6Address: 'fd00:80::5', GlobalIPv6PrefixLen: 64, IPv6Gateway: 'fd00:80::1', MacAddress: '02:42:0a:50:00:05', Aliases: ['www'], NetworkID: networkId('app'), IPAMConfig: { IPv4Address: '10.80.0.5' }, DNSNames: ['web', 'www'] });
    expect(o.NetworkSettings.Networks.bridge.DNSNames).toBeNull();
    const t = parseTemplate('{{range $n, $e := .NetworkSettings.Networks}}{{$n}}:{{$e.IPAddress}} {{end}}{{.NetworkSettings.Networks.nosuch}} {{len .HostConfig.PortBindings}}');
    expect(t.execute(o)).toBe('app:10.80.0.5 bridge:172.17.0.2 <no value> 2');
    const running = inspectSandbox({ s: sandbox({ status: 'running', pid: { pid: 42, start: 1 } }), network: () => undefined, files: { resolv: '', hosts: '', hostname: '', log: '' }, running: true }) as any;
    expect(running.State).toMatchObject({ Status: 'running', Running: true, Pid: 42, ExitCode: 0, FinishedAt: '0001-01-01T00:00:00Z' });
    expect(running.NetworkSettings.Ports).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] });
  });
});

describe('run options: aliases, env, workdir', () => {
  const base = { networks: ['app'], publish: [], dns: [], dnsSearch: [], addHosts: [], command: ['true'] };
  it('--network-alias needs a user-defined network; -e and -w are checked', () => {
    expect(() => checkRun({ ...base, aliases: ['a'] }, 'bridge')).not.toThrow();
    expect(() => checkRun({ ...base, networks: [], aliases: ['a'] }, 'bridge')).toThrow('--network-alias a: network-scoped aliases are only supported on user-defined networks, not the default network bridge');
    expect(() => checkRun({ ...base, networks: ['host'], aliases: ['a'] }, 'bridge')).toThrow('not --network host');
    expect(() => checkRun({ ...base, aliases: ['bad alias'] }, 'bridge')).toThrow('invalid --network-alias "bad alias"');
    expect(() => checkRun({ ...base, env: ['=x'] }, 'bridge')).toThrow('invalid --env "=x"');
    expect(() => checkRun({ ...base, workdir: 'rel' }, 'bridge')).toThrow('invalid --workdir "rel": the working directory must be an absolute path');
    expect(() => checkRun({ ...base, networks: ['container:x'], dnsOptions: ['ndots:1'] }, 'bridge')).toThrow('--dns, --dns-search, --dns-option and --add-host conflict with --network container:x');
  });

  it('-e KEY=VALUE sets, -e KEY takes cnictl’s value (or drops it), -t sets TERM when unset', () => {
    const env = commandEnv({ PATH: '/bin', KEEP: 'k', GONE: undefined }, 'h', ['A=1', 'B=x=y', 'KEEP', 'NOPE'], true);
    expect(env).toMatchObject({ PATH: '/bin', HOSTNAME: 'h', A: '1', B: 'x=y', KEEP: 'k', TERM: 'xterm' });
    expect(env).not.toHaveProperty('NOPE');
  });
});
