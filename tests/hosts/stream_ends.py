"""stream_ends.py sink STATUS | source PORT MIB - the two ends of a long stream for the streaming
tests. sink: listens on 127.0.0.1 (prints {"listening": PORT}), takes one connection, reads to
EOF, writes {"bytes": N, "sha256": H} to STATUS, replies "ok" and closes. source: connects to
PORT, sends MIB mebibytes of deterministic pseudo-random data (each mebibyte numbered, so lost,
repeated or reordered blocks change the hash), half-closes, prints the same JSON for what it sent
and exits 0 once the reply "ok" came back."""
import hashlib
import json
import random
import socket
import sys

MIB = 1 << 20

if sys.argv[1] == "sink":
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    print(json.dumps({"listening": ls.getsockname()[1]}), flush=True)
    ls.settimeout(30)
    s, _ = ls.accept()
    h, n = hashlib.sha256(), 0
    buf = bytearray(MIB)
    view = memoryview(buf)
    while True:
        r = s.recv_into(buf)
        if not r:
            break
        h.update(view[:r])
        n += r
    with open(sys.argv[2], "w") as f:
        json.dump({"bytes": n, "sha256": h.hexdigest()}, f)
    s.sendall(b"ok")
    s.close()
else:
    port, mib = int(sys.argv[2]), int(sys.argv[3])
    block = bytearray(random.Random(20240501).randbytes(MIB))
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    h = hashlib.sha256()
    for i in range(mib):
        block[:8] = i.to_bytes(8, "little")
        h.update(block)
        s.sendall(block)
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        chunk = s.recv(16)
        if not chunk:
            break
        reply += chunk
    print(json.dumps({"bytes": mib * MIB, "sha256": h.hexdigest(), "reply": reply.decode()}))
