// hostctl.js - what the Node.js host programs of the end-to-end tests share: one JSON line per
// event on stdout, and an exit once the test releases the host (so that its stats can be read
// until then).
'use strict';
const fs = require('fs');

// One JSON object per line on stdout (the test greps it).
exports.say = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// Exit once the file RELEASE exists, or after 20 s.
exports.exitWhenReleased = (release) => {
  const deadline = Date.now() + 20000;
  const timer = setInterval(() => {
    if (fs.existsSync(release) || Date.now() > deadline) {
      clearInterval(timer);
      process.exit(0);
    }
  }, 20);
};
