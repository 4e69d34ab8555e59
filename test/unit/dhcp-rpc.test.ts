// The dhcp daemon protocol (net/rpc over HTTP, gob) against streams captured between Debian's Go dhcp plugin and
// daemon 1.1.1 (test/unit/fixtures/dhcp-rpc/README.md): we read what they send, and send what they send, byte for byte.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GobDecoder, GobEncoder, GobError, T } from '../../ipam/dhcp/gob.js';
import {
  CONNECT_REQUEST,
  CONNECT_RESPONSE,
  PairReader,
  ReplyEncoder,
  answerFrom,
  callFrom,
  encodeCall,
  ipFromBytes,
  ipToBytes,
  prefixFromMask,
  resultFromGob,
  resultToGob,
} from '../../ipam/dhcp/rpc.js';

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(import.meta.dirname, 'fixtures', 'dhcp-rpc', name)));
const CONF = '{"cniVersion":"1.0.0","name":"dhnet","type":"macvlan","master":"lan0","ipam":{"type":"dhcp","daemonSocketPath":"/tmp/dhlab/x1/cap.sock"}}\n';
const NETNS = '/run/netns/cnits-dhlab-x1-c';

/** A captured stream without its HTTP preamble (the request line or the status line). */
function afterPreamble(bytes: Uint8Array, preamble: string): Uint8Array {
  expect(Buffer.from(bytes.subarray(0, preamble.length)).toString()).toBe(preamble);
  return bytes.subarray(preamble.length);
}

const pairs = (bytes: Uint8Array) => new PairReader().push(bytes);

describe('gob', () => {
  it('integers: one byte below 128, else a negated byte count and big-endian bytes; ints zig-zag', () => {
    const enc = new GobEncoder(new Map([[65, { kind: 'struct', name: 'N', fields: [{ name: 'U', id: T.uint }, { name: 'I', id: T.int }] }]]));
    const bytes = enc.encode(65, { U: 256, I: -65 });
    // after the definition: length 10, type id 65 (int → uint 130: ff 82), field +1 = 256 (fe 01 00), field +1 = -65
    // (uint 129: ff 81), end of struct
    expect([...bytes.subarray(bytes.length - 11)]).toEqual([0x0a, 0xff, 0x82, 0x01, 0xfe, 0x01, 0x00, 0x01, 0xff, 0x81, 0x00]);
    const m = (() => {
      const d = new GobDecoder();
      let rest = bytes;
      for (;;) {
        const x = d.next(rest)!;
        rest = rest.subarray(x.used);
        if (x.typeId) return x;
      }
    })();
    expect(m.value).toEqual({ U: 256, I: -65 });
  });

  it('waits for whole messages, and refuses garbage with an error instead of looping or allocating', () => {
    const stream = afterPreamble(fixture('allocate-call.bin'), CONNECT_REQUEST);
    const d = new GobDecoder();
    expect(d.next(stream.subarray(0, 10))).toBeUndefined();
    expect(d.next(new Uint8Array([0xfc, 0x7f, 0xff]))).toBeUndefined(); // the length itself is not complete yet
    expect(() => d.next(new Uint8Array([0xfc, 0x7f, 0xff, 0xff, 0xff]))).toThrow(/too big/); // 2 GB announced: refused at once
    expect(() => d.next(new Uint8Array([0x03, 0xff, 0x90, 0x00]))).toThrow(/unknown type id/);
    expect(() => new GobDecoder().next(new Uint8Array([0x04, 0x7f, 0x01, 0x01, 0x00]))).toThrow(GobError); // field of nothing
  });
});

describe('dhcp rpc: what the Go plugin sends', () => {
  it('DHCP.Allocate: CONNECT /_goRPC_, then Request and skel.CmdArgs (netns absolute, stdin verbatim)', () => {
    const got = pairs(afterPreamble(fixture('allocate-call.bin'), CONNECT_REQUEST));
    expect(got).toHaveLength(1);
    const call = callFrom(got[0]!);
    expect(call.method).toBe('DHCP.Allocate');
    expect(call.seq).toBe(0);
    expect(call.args).toMatchObject({ ContainerID: 'ctr1', Netns: NETNS, IfName: 'eth0', Args: '', Path: '/usr/lib/cni' });
    expect(Buffer.from(call.args.StdinData).toString()).toBe(CONF);
  });

  it('CNI_ARGS travel as they are; DHCP.Release with CNI_NETNS="" carries the Go plugin working directory', () => {
    expect(callFrom(pairs(afterPreamble(fixture('allocate-error-call.bin'), CONNECT_REQUEST))[0]!).args).toMatchObject({ ContainerID: 'ctr2', IfName: 'eth9', Args: 'IgnoreUnknown=1;K8S_POD_NAME=x' });
    const rel = callFrom(pairs(afterPreamble(fixture('release-call.bin'), CONNECT_REQUEST))[0]!);
    expect(rel.method).toBe('DHCP.Release');
    expect(rel.args.Netns).toBe('/tmp/dhlab');
  });

  it('our plugin sends the same bytes', () => {
    for (const [file, method, args] of [
      ['allocate-call.bin', 'DHCP.Allocate', { ContainerID: 'ctr1', Netns: NETNS, IfName: 'eth0', Args: '', Path: '/usr/lib/cni' }],
      ['allocate-error-call.bin', 'DHCP.Allocate', { ContainerID: 'ctr2', Netns: NETNS, IfName: 'eth9', Args: 'IgnoreUnknown=1;K8S_POD_NAME=x', Path: '/usr/lib/cni' }],
      ['release-call.bin', 'DHCP.Release', { ContainerID: 'ctr1', Netns: '/tmp/dhlab', IfName: 'eth0', Args: '', Path: '/usr/lib/cni' }],
    ] as const) {
      const bytes = encodeCall(method, { ...args, StdinData: Buffer.from(CONF) });
      expect(Buffer.from(bytes).toString('hex'), file).toBe(Buffer.from(fixture(file)).toString('hex'));
    }
  });
});

describe('dhcp rpc: what the Go daemon answers', () => {
  const RESULT = {
    cniVersion: '1.0.0',
    ips: [{ address: '10.99.0.144/24', gateway: '10.99.0.1' }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.99.0.1' }],
  };

  it('Allocate: "HTTP/1.0 200 Connected to Go RPC", Response, types100.Result (ip, gateway = router, default route)', () => {
    const got = pairs(afterPreamble(fixture('allocate-answer.bin'), CONNECT_RESPONSE));
    expect(got).toHaveLength(1);
    const a = answerFrom(got[0]!);
    expect(a).toMatchObject({ method: 'DHCP.Allocate', seq: 0 });
    expect(a.error).toBeUndefined();
    expect(resultFromGob(a.body, '1.0.0')).toEqual(RESULT);
  });

  it('errors: Response.Error and an empty body; Release: an empty body', () => {
    const e = answerFrom(pairs(afterPreamble(fixture('allocate-error-answer.bin'), CONNECT_RESPONSE))[0]!);
    expect(e.error).toBe('error looking up "eth9": Link not found');
    expect(e.body).toEqual({});
    const r = answerFrom(pairs(afterPreamble(fixture('release-answer.bin'), CONNECT_RESPONSE))[0]!);
    expect(r).toEqual({ method: 'DHCP.Release', seq: 0, body: {} });
  });

  it('our daemon sends the same bytes (one encoder per connection, as the Go server keeps)', () => {
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    const tail = (f: string) => hex(afterPreamble(fixture(f), CONNECT_RESPONSE));
    expect(hex(new ReplyEncoder().result('DHCP.Allocate', 0, RESULT))).toBe(tail('allocate-answer.bin'));
    // the Go daemon had sent a Result before (so struct{} is type 76): the same on our side
    const afterAllocate = (enc: ReplyEncoder) => (enc.result('DHCP.Allocate', 0, RESULT), enc);
    const errEnc = new ReplyEncoder();
    expect(hex(errEnc.error('DHCP.Allocate', 0, 'error looking up "eth9": Link not found'))).toBe(tail('allocate-error-answer.bin'));
    expect(hex(new ReplyEncoder().empty('DHCP.Release', 0))).toBe(tail('release-answer.bin'));
    // a second answer on the same connection sends no definitions again
    const again = afterAllocate(new ReplyEncoder()).result('DHCP.Allocate', 1, RESULT);
    expect(pairs(concatAll(afterPreamble(fixture('allocate-answer.bin'), CONNECT_RESPONSE), again)).map(answerFrom).map((x) => x.seq)).toEqual([0, 1]);
  });

  // (an IPConfig's `interface` 0 does not survive: gob drops a *int pointing at 0, as Go's own daemon would)
  it('our Result round-trips through gob (IPv4 and IPv6, routes without a gateway, DNS, interfaces)', () => {
    const r = {
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/x' }],
      ips: [{ address: '10.1.2.3/16', gateway: '10.1.0.1', interface: 2 }, { address: 'fd00::5/64' }],
      routes: [{ dst: '192.168.0.0/24' }, { dst: '::/0', gw: 'fd00::1' }],
      dns: { nameservers: ['10.1.0.53'], domain: 'lan', search: ['a', 'b'] },
    };
    const bytes = new ReplyEncoder().result('DHCP.Allocate', 7, r);
    const a = answerFrom(pairs(bytes)[0]!);
    expect(a.seq).toBe(7);
    expect(resultFromGob(a.body, '0.4.0')).toEqual(r);
  });
});

describe('peers of other versions', () => {
  it('a newer plugin\'s CmdArgs (more fields, other ids) and a newer daemon\'s Route (MTU, Table) are read all the same', () => {
    const types = new Map([
      [70, { kind: 'struct' as const, name: 'Request', fields: [{ name: 'ServiceMethod', id: T.string }, { name: 'Seq', id: T.uint }] }],
      [71, { kind: 'struct' as const, name: 'CmdArgs', fields: [{ name: 'ContainerID', id: T.string }, { name: 'Netns', id: T.string }, { name: 'IfName', id: T.string }, { name: 'Args', id: T.string }, { name: 'Path', id: T.string }, { name: 'NetnsOverride', id: T.string }, { name: 'StdinData', id: T.bytes }] }],
    ]);
    const enc = new GobEncoder(types);
    const bytes = concatAll(enc.encode(70, { ServiceMethod: 'DHCP.Release', Seq: 3 }), enc.encode(71, { ContainerID: 'x', Netns: '/n', IfName: 'eth1', NetnsOverride: '1', StdinData: Buffer.from('{}') }));
    const call = callFrom(pairs(bytes)[0]!);
    expect(call).toMatchObject({ method: 'DHCP.Release', seq: 3, args: { ContainerID: 'x', Netns: '/n', IfName: 'eth1', Args: '', Path: '' } });

    const ipnet = { kind: 'struct' as const, name: 'IPNet', fields: [{ name: 'IP', id: T.bytes }, { name: 'Mask', id: T.bytes }] };
    const rtypes = new Map<number, import('../../ipam/dhcp/gob.js').WireType>([
      [65, { kind: 'struct', name: 'Response', fields: [{ name: 'ServiceMethod', id: T.string }, { name: 'Seq', id: T.uint }, { name: 'Error', id: T.string }] }],
      [66, { kind: 'struct', name: 'Result', fields: [{ name: 'CNIVersion', id: T.string }, { name: 'IPs', id: 69 }, { name: 'Routes', id: 71 }] }],
      [67, ipnet],
      [68, { kind: 'struct', name: '', fields: [{ name: 'Interface', id: T.int }, { name: 'Address', id: 67 }, { name: 'Gateway', id: T.bytes }] }],
      [69, { kind: 'slice', name: '[]*types100.IPConfig', elem: 68 }],
      [70, { kind: 'struct', name: '', fields: [{ name: 'Dst', id: 67 }, { name: 'GW', id: T.bytes }, { name: 'MTU', id: T.int }, { name: 'AdvMSS', id: T.int }, { name: 'Priority', id: T.int }, { name: 'Table', id: T.int }, { name: 'Scope', id: T.int }] }],
      [71, { kind: 'slice', name: '[]*types.Route', elem: 70 }],
    ]);
    const renc = new GobEncoder(rtypes);
    const answer = concatAll(
      renc.encode(65, { ServiceMethod: 'DHCP.Allocate', Seq: 0 }),
      renc.encode(66, { IPs: [{ Address: { IP: Uint8Array.from([10, 0, 0, 9]), Mask: Uint8Array.from([255, 255, 255, 0]) } }], Routes: [{ Dst: { IP: new Uint8Array(4), Mask: new Uint8Array(4) }, GW: Uint8Array.from([10, 0, 0, 1]), MTU: 1400, Table: 100 }] }),
    );
    expect(resultFromGob(answerFrom(pairs(answer)[0]!).body, '1.1.0')).toEqual({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.9/24' }], routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400, table: 100 }] });
  });
});

describe('net.IP bytes', () => {
  it('4-byte and 16-byte (IPv4-mapped) IPv4, IPv6 with the longest zero run compressed', () => {
    expect(ipFromBytes(Uint8Array.from([10, 0, 0, 1]))).toBe('10.0.0.1');
    expect(ipFromBytes(Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 10, 0, 0, 1]))).toBe('10.0.0.1');
    expect(ipFromBytes(ipToBytes('fd00::1:0:0:5'))).toBe('fd00::1:0:0:5');
    expect(ipFromBytes(ipToBytes('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1');
    expect(prefixFromMask(Uint8Array.from([255, 255, 240, 0]), Uint8Array.from([10, 0, 0, 1]))).toBe(20);
    expect(prefixFromMask(Uint8Array.from([...new Array(12).fill(255), 255, 255, 255, 0]), new Uint8Array(16).fill(0).map((_, i) => (i === 10 || i === 11 ? 255 : 0)))).toBe(24);
    expect(() => prefixFromMask(Uint8Array.from([255, 0, 255, 0]), Uint8Array.from([10, 0, 0, 1]))).toThrow(/non-canonical/);
    expect(resultToGob({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/8' }] }).IPs).toEqual([{ Interface: undefined, Address: { IP: Uint8Array.from([10, 0, 0, 2]), Mask: Uint8Array.from([255, 0, 0, 0]) }, Gateway: undefined }]);
  });
});

function concatAll(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}
