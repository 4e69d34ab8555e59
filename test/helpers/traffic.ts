/**
 * Traffic for integration tests: Node TCP (port 80) and UDP (port 5353) servers inside a netns that answer with their
 * name, and a one-shot client. The servers stop by themselves after 110 s at the latest. And a TCP throughput measure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { pluginEnv, sh } from './harness.js';

const SERVER = `
const net = require('net'), dgram = require('dgram');
const name = process.argv[1];
let up = 0; const ready = () => { if (++up === 2) process.stdout.write('ready\\n'); };
net.createServer((s) => s.end('hello from ' + name + '\\n')).listen(80, '::', ready);
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => u.send('pong from ' + name, r.port, r.address));
u.bind(5353, '0.0.0.0', ready);
setTimeout(() => process.exit(0), 110000);
`;

const CLIENT = `
const [proto, host, port, sport] = process.argv.slice(1);
const done = (s) => { process.stdout.write(s); process.exit(0); };
setTimeout(() => done('TIMEOUT'), 1500);
if (proto === 'tcp') {
  const s = require('net').connect(Number(port), host);
  let buf = '';
  s.on('data', (d) => (buf += d));
  s.on('end', () => done(buf.trim()));
  s.on('error', (e) => done('ERR ' + e.code));
} else {
  const u = require('dgram').createSocket('udp4');
  u.on('message', (m) => done(String(m)));
  u.bind(sport ? Number(sport) : 0, () => u.send('ping', Number(port), host));
}
`;

export class Servers {
  private procs: ChildProcess[] = [];
  async start(netns: string, name: string): Promise<void> {
    const p = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', SERVER, name], { env: pluginEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.push(p);
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`server in ${netns} did not start`)), 10000);
      p.stdout!.on('data', (d) => String(d).includes('ready') && (clearTimeout(t), res()));
      p.on('exit', (c) => (clearTimeout(t), rej(new Error(`server in ${netns} exited ${c}`))));
    });
  }
  stopAll(): void {
    for (const p of this.procs) if (p.exitCode === null) p.kill('SIGKILL');
    this.procs = [];
  }
}

export function request(netns: string, proto: 'tcp' | 'udp', host: string, port: number, sport?: number): string {
  const args = ['netns', 'exec', netns, process.execPath, '-e', CLIENT, proto, host, String(port), ...(sport ? [String(sport)] : [])];
  const r = sh('ip', args);
  return r.stdout.trim() || `EXIT ${r.status} ${r.stderr}`;
}

// Throughput: a sink counts what arrives between 0.5 s and 3.5 s after the first byte; a source sends flat out.
const TRAFFIC = `
const net = require('net');
const [mode, a, b] = process.argv.slice(1);
const chunk = Buffer.alloc(65536);
const pump = (s) => { const w = () => { while (s.write(chunk)); }; s.on('drain', w); w(); s.on('error', () => {}); };
const count = (s) => { let n = 0, t0 = 0; s.on('data', (d) => { const t = Date.now(); if (!t0) t0 = t; if (t - t0 >= 500 && t - t0 < 3500) n += d.length; if (t - t0 >= 3500) { process.stdout.write(String(n * 8 / 3)); process.exit(0); } }); s.on('error', () => {}); };
if (mode === 'serve-sink') net.createServer(count).listen(Number(a), () => process.stdout.write('ready\\n'));
if (mode === 'serve-source') net.createServer(pump).listen(Number(a), () => process.stdout.write('ready\\n'));
if (mode === 'source') pump(net.connect(Number(b), a));
if (mode === 'sink') count(net.connect(Number(b), a));
setTimeout(() => process.exit(2), 15000);
`;

/**
 * Bits per second of one TCP connection between `client` and a server in `serverNs` (at `serverIp`):
 * 'egress' = the client uploads, 'ingress' = it downloads.
 */
export async function measureThroughput(serverNs: string, serverIp: string, client: string, dir: 'egress' | 'ingress', port: number): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', serverNs, process.execPath, '-e', TRAFFIC, dir === 'egress' ? 'serve-sink' : 'serve-source', String(port)], { env: pluginEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  server.stdout.on('data', (d) => (out += d));
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error('server did not start')), 10000);
    const poll = setInterval(() => out.includes('ready\n') && (clearTimeout(t), clearInterval(poll), res()), 20);
  });
  const clientProc = spawn('ip', ['netns', 'exec', client, process.execPath, '-e', TRAFFIC, dir === 'egress' ? 'source' : 'sink', serverIp, String(port)], { env: pluginEnv({}), stdio: ['ignore', 'pipe', 'pipe'] });
  let clientOut = '';
  clientProc.stdout.on('data', (d) => (clientOut += d));
  const done = (p: ReturnType<typeof spawn>) => new Promise<void>((res) => p.on('exit', () => res()));
  if (dir === 'egress') {
    await done(server);
    clientProc.kill('SIGKILL');
    return Number(out.replace('ready\n', ''));
  }
  await done(clientProc);
  server.kill('SIGKILL');
  return Number(clientOut);
}
