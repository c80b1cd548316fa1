// node_keepalive_client.js PORT REQUESTS RELEASE - an HTTP client pool for the end-to-end tests:
// http.Agent({keepAlive: true, maxSockets: 4}) sends REQUESTS GETs to 127.0.0.1:PORT in waves of
// 10, checks every body's length, then destroys the agent and waits for every socket to close.
// Prints one JSON line with what it saw itself (distinct sockets, bytes read and written) and
// "done", then waits (at most 20 s) for the file RELEASE to appear before exiting.
'use strict';
const http = require('http');
const fs = require('fs');

const [port, requests, release] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const sockets = new Set();
let closed = 0;

function expectedLength(k) { return 100 + (k % 400); }

function get(k) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/' + k, agent }, (res) => {
      let n = 0;
      res.on('data', (chunk) => { n += chunk.length; });
      res.on('end', () => {
        if (res.statusCode !== 200 || n !== expectedLength(k))
          reject(new Error(`request ${k}: status ${res.statusCode}, ${n} bytes`));
        else
          resolve();
      });
      res.on('error', reject);
    });
    req.on('socket', (s) => {
      if (!sockets.has(s)) {
        sockets.add(s);
        s.on('close', () => { closed++; });
      }
    });
    req.on('error', reject);
  });
}

function until(pred, ms) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (pred()) resolve();
      else if (Date.now() > deadline) reject(new Error('timed out'));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

async function main() {
  const wave = 10;
  for (let k = 0; k < requests; k += wave) {
    const batch = [];
    for (let j = k; j < Math.min(k + wave, requests); j++) batch.push(get(j));
    await Promise.all(batch);
  }
  agent.destroy();
  await until(() => closed === sockets.size, 5000);
  let bytesIn = 0, bytesOut = 0;
  for (const s of sockets) { bytesIn += s.bytesRead; bytesOut += s.bytesWritten; }
  console.log(JSON.stringify({ pid: process.pid, requests, sockets: sockets.size, closed,
                               bytes_in: bytesIn, bytes_out: bytesOut }));
  console.log('done');
  await until(() => fs.existsSync(release), 20000).catch(() => {});
}

main().catch((e) => { console.error(String(e)); process.exit(1); });
