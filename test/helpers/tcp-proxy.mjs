#!/usr/bin/env node
// A TCP proxy for tests: --listen HOST:PORT → --to HOST:PORT. On stdin, "freeze" makes every connection open at
// that moment silent for good — nothing is forwarded either way any more, but neither side is closed — as a
// connection through a crashed host or a dropped NAT entry is; connections made afterwards work normally.
// Reports on stdout: {"listening":port}, {"conn":n}, {"frozen":n}.
import { createConnection, createServer } from 'node:net';
import { createInterface } from 'node:readline';

const arg = (name) => process.argv[process.argv.indexOf(`--${name}`) + 1];
const split = (hp) => {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i), Number(hp.slice(i + 1))];
};
const [lhost, lport] = split(arg('listen'));
const [thost, tport] = split(arg('to'));
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const open = new Set();
let n = 0;

const server = createServer((client) => {
  const upstream = createConnection(tport, thost);
  const pair = { client, upstream, frozen: false };
  open.add(pair);
  out({ conn: ++n });
  const forward = (from, to) => from.on('data', (d) => pair.frozen || to.write(d));
  forward(client, upstream);
  forward(upstream, client);
  const close = () => {
    if (pair.frozen) return; // a frozen connection never closes (it is "dead", not gone)
    open.delete(pair);
    client.destroy();
    upstream.destroy();
  };
  client.on('close', close);
  upstream.on('close', close);
  client.on('error', () => undefined);
  upstream.on('error', () => undefined);
});

createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'freeze') return;
  for (const p of open) p.frozen = true;
  out({ frozen: open.size });
  open.clear();
});
process.stdin.on('end', () => process.exit(0));
server.listen(lport, lhost, () => out({ listening: lport }));
