import { describe, expect, it } from 'vitest';
import { decodeCache, encodeCache } from '../../cli/runtime/cache.js';
import { ConfError, confListFromBytes, confListFromConf } from '../../cli/runtime/conffiles.js';
import { cnitoolContainerId, parseCnitoolArgs, pluginStdin, runtimeConfigFor } from '../../cli/runtime/request.js';
import { parseArgs } from '../../cli/util/args.js';

describe('plugin stdin, as libcni builds it', () => {
  const plugin = { type: 'portmap', capabilities: { portMappings: true, bandwidth: false }, snat: true, runtimeConfig: { static: 1 } };

  it('overwrites name and cniVersion, sorts keys as Go marshals a map, and passes only declared capabilities', () => {
    const s = pluginStdin(plugin, { name: 'n', cniVersion: '1.0.0', capabilityArgs: { portMappings: [{ hostPort: 1 }], bandwidth: {}, mac: 'x' } });
    expect(s).toBe('{"capabilities":{"bandwidth":false,"portMappings":true},"cniVersion":"1.0.0","name":"n","runtimeConfig":{"portMappings":[{"hostPort":1}]},"snat":true,"type":"portmap"}');
  });

  it('keeps a static runtimeConfig when the runtime has no argument for a declared capability', () => {
    expect(JSON.parse(pluginStdin(plugin, { name: 'n', cniVersion: '1.0.0' })).runtimeConfig).toEqual({ static: 1 });
    expect(runtimeConfigFor(plugin, { bandwidth: {} })).toEqual({});
  });

  it('puts prevResult in sorted position, keeping its own field order', () => {
    const prev = { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] };
    const s = pluginStdin({ type: 'x', zeta: 1 }, { name: 'n', cniVersion: '1.0.0', prevResult: prev });
    expect(Object.keys(JSON.parse(s))).toEqual(['cniVersion', 'name', 'prevResult', 'type', 'zeta']);
    expect(s).toContain('"prevResult":{"cniVersion":"1.0.0","ips"');
  });
});

describe('cnitool conventions', () => {
  it('derives the container ID from the netns path as cnitool does', () => {
    expect(cnitoolContainerId('/run/netns/x')).toMatch(/^cnitool-[0-9a-f]{20}$/);
    expect(cnitoolContainerId('/run/netns/x')).not.toBe(cnitoolContainerId('/run/netns/y'));
    expect(cnitoolContainerId('/var/run/netns/test')).toBe('cnitool-7b8a61d5d8e94d07cbe4'); // python3 hashlib.sha512(...).hexdigest()[:20]
  });

  it('parses CNI_ARGS pairs strictly', () => {
    expect(parseCnitoolArgs('IgnoreUnknown=1;IP=10.0.0.5')).toEqual([['IgnoreUnknown', '1'], ['IP', '10.0.0.5']]);
    expect(() => parseCnitoolArgs('IP=')).toThrow(/invalid CNI_ARGS pair "IP="/);
    expect(() => parseCnitoolArgs('A=b=c')).toThrow(/invalid CNI_ARGS pair/);
  });
});

describe('libcni result cache (cniCacheV1)', () => {
  it('round-trips and writes config as base64 bytes, omitting empty fields', () => {
    const e = { containerId: 'c1', ifName: 'eth0', networkName: 'n', config: '{"name":"n"}\n', netns: '/run/netns/a', result: { cniVersion: '1.0.0', ips: [] } };
    const text = encodeCache(e);
    const raw = JSON.parse(text);
    expect(Object.keys(raw)).toEqual(['kind', 'containerId', 'config', 'ifName', 'networkName', 'netns', 'result']);
    expect(raw.kind).toBe('cniCacheV1');
    expect(Buffer.from(raw.config, 'base64').toString()).toBe('{"name":"n"}\n');
    expect(decodeCache(text)).toEqual(e);
  });

  it('reads what Go libcni 1.1.2 writes (no netns) and refuses other kinds', () => {
    const go = '{"kind":"cniCacheV1","containerId":"x","config":"e30=","ifName":"eth0","networkName":"n","cniArgs":[["IP","10.0.0.2"]],"capabilityArgs":{"portMappings":[]},"result":{"cniVersion":"0.4.0"}}';
    expect(decodeCache(go)).toEqual({ containerId: 'x', ifName: 'eth0', networkName: 'n', config: '{}', cniArgs: [['IP', '10.0.0.2']], capabilityArgs: { portMappings: [] }, result: { cniVersion: '0.4.0' } });
    expect(decodeCache('{"cniVersion":"0.4.0","ips":[]}')).toBeUndefined();
  });
});

describe('config files, as libcni parses them', () => {
  it('a conflist: name, version, disableCheck/disableGC (also "true" strings), cniVersions picks the highest supported', () => {
    const l = confListFromBytes(JSON.stringify({ cniVersion: '0.4.0', cniVersions: ['1.0.0', '1.1.0', '9.9.9'], name: 'n', disableCheck: 'true', plugins: [{ type: 'bridge' }] }), 'f');
    expect(l).toMatchObject({ name: 'n', cniVersion: '1.1.0', disableCheck: true, disableGC: false });
    expect(() => confListFromBytes('{"name":"n","plugins":[]}', 'f')).toThrow(ConfError);
    expect(() => confListFromBytes('{"name":"n","plugins":[{}]}', 'f')).toThrow(/plugins\[0\] has no "type"/);
    expect(() => confListFromBytes('{"plugins":[{"type":"x"}]}', 'f')).toThrow(/no "name"/);
    expect(() => confListFromBytes('{nope', 'f')).toThrow(/f: not valid JSON/);
  });

  it('a .conf becomes a one-plugin list with the bytes libcni builds', () => {
    const l = confListFromConf('{"name":"s","type":"bridge","cniVersion":"0.3.1"}', 'f.conf');
    expect(l.bytes).toBe('{"cniVersion":"0.3.1","name":"s","plugins":[{"cniVersion":"0.3.1","name":"s","type":"bridge"}]}');
    expect(l.plugins).toHaveLength(1);
  });
});

describe('flag parsing', () => {
  const specs = [{ name: 'detach', short: 'd' }, { name: 'rm' }, { name: 'network', value: true, multi: true }, { name: 'publish', short: 'p', value: true, multi: true }, { name: 'name', value: true }];

  it('long, short, grouped, = forms, repeats, and stops at the command', () => {
    const p = parseArgs(['-d', '--rm', '--network=a', '--network', 'b', '-p8080:80', '-p', '53:53/udp', '--name', 'web', 'sh', '-c', 'x'], specs, { stopAtPositional: true });
    expect(p.flags).toEqual({ detach: true, rm: true, network: ['a', 'b'], publish: ['8080:80', '53:53/udp'], name: 'web' });
    expect(p.rest).toEqual(['sh', '-c', 'x']);
    expect(parseArgs(['--', '-d'], specs).rest).toEqual(['-d']);
  });

  it('names the unknown flag and the flag missing a value', () => {
    expect(() => parseArgs(['--nope'], specs)).toThrow('unknown flag: --nope');
    expect(() => parseArgs(['-x'], specs)).toThrow("unknown shorthand flag: 'x' in -x");
    expect(() => parseArgs(['--name'], specs)).toThrow('flag --name needs a value');
  });
});
