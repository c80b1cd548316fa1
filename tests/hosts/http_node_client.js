// http_node_client.js [HOST:]PORT N AGENT BURSTS PAUSE_MS RELEASE [WARM] - Node's http client for
// the cap tests, against cap_count_server.py --http on HOST:PORT (HOST: 127.0.0.1 unless named; a
// name Node resolves). Each burst issues N concurrent GETs through one http.Agent and waits for all
// of them; bursts are PAUSE_MS apart. AGENT: "close" (keepAlive: false), "keepalive" (keepAlive:
// true, no socket limit) or "keepalive:K" (keepAlive: true, maxSockets: K). Every body is checked
// byte for byte. WARM: a name to resolve once before the first request (names.bash says why).
// Prints {"pid": ...} first, one JSON line per burst, then one result line, and stays alive until
// the file RELEASE exists (at most 20 s) so its stats can be read. Runs the same with or without
// the preload.
'use strict';
const dns = require('dns');
const http = require('http');
const {say, exitWhenReleased} = require('./hostctl');

const where = process.argv[2].split(':');
const host = where.length > 1 ? where[0] : '127.0.0.1', port = Number(where[where.length - 1]);
const n = Number(process.argv[3]);
const [kind, maxSockets] = process.argv[4].split(':');
const bursts = Number(process.argv[5]), pauseMs = Number(process.argv[6]);
const release = process.argv[7], warm = process.argv[8];
const SIZE = 1000;
const PATTERN = 'abcdefghijklmnopqrstuvwxyz\n';
const expected = PATTERN.repeat(Math.ceil(SIZE / PATTERN.length)).slice(0, SIZE);

const agent = new http.Agent(kind === 'close' ? {keepAlive: false}
  : {keepAlive: true, ...(maxSockets ? {maxSockets: Number(maxSockets)} : {})});

function get(path) {
  return new Promise((resolve) => {
    const req = http.get({host, port, path, agent}, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body === expected ? null : `body of ${body.length} bytes differs`));
      res.on('error', (e) => resolve(e.code || e.message));
    });
    req.on('error', (e) => resolve(e.code || e.message));
  });
}

async function main() {
  say({pid: process.pid, mode: 'node ' + kind});
  if (warm) await dns.promises.lookup(warm);
  let ok = 0;
  const errors = {}, secs = [];
  for (let b = 0; b < bursts; b++) {
    if (b) await new Promise((r) => setTimeout(r, pauseMs));
    const t0 = process.hrtime.bigint();
    const outcomes = await Promise.all(
      Array.from({length: n}, (_, i) => get(`/b${b}r${i}?size=${SIZE}`)));
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const bErrors = {};
    let bOk = 0;
    for (const e of outcomes) {
      if (e === null) bOk++;
      else bErrors[e] = (bErrors[e] || 0) + 1;
    }
    say({burst: b, ok: bOk, errors: bErrors, secs: s});
    ok += bOk;
    for (const [k, v] of Object.entries(bErrors)) errors[k] = (errors[k] || 0) + v;
    secs.push(s);
  }
  say({ok, requests: n * bursts, errors, secs, mode: 'node ' + process.argv[4]});
  agent.destroy();
  exitWhenReleased(release);
}
main();
