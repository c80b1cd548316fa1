"""abandon_client.py PORT - the program under test in the abandonment tests: its connections to
abandon_peer.py on 127.0.0.1:PORT, driven by stdin lines, each answered by one JSON line on stdout:
  open NAME stream|quiet|burst SECS  connect and ask for that (see abandon_peer.py); a stream is
                                     read on a thread of its own, and a quiet one's line is read
  stop NAME / resume NAME            the stream's thread stops reading (keeping the socket) / reads
                                     again
  close NAME                         close it
  listen                             a listener whose connections are accepted and never read
Prints {"ready": true, "pid": PID} first. Exits when stdin ends (at most 60 s). Runs the same
without the shim."""
import json
import os
import socket
import sys
import threading

conns = {}
out_mu = threading.Lock()


def say(**fields):
    with out_mu:
        sys.stdout.write(json.dumps(fields, sort_keys=True) + "\n")
        sys.stdout.flush()


class Stream:
    def __init__(self, sock):
        self.sock = sock
        self.reading = threading.Event()
        self.reading.set()
        self.bytes = 0
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while True:
            self.reading.wait()
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            if not data:
                return
            self.bytes += len(data)


def accept_never_read(lsock):
    while True:
        c, peer = lsock.accept()
        conns["in%d" % len(conns)] = c
        say(accepted=peer[1], fd=c.fileno())


threading.Timer(60, lambda: os._exit(3)).start()
port = int(sys.argv[1])
say(ready=True, pid=os.getpid())
for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    if w[0] == "open":
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall((" ".join(w[2:]) + "\n").encode())
        if w[2] == "stream":
            conns[w[1]] = Stream(s)
        else:
            if w[2] == "quiet":
                s.recv(64)
            conns[w[1]] = s
        say(opened=w[1], fd=s.fileno(), local_port=s.getsockname()[1])
    elif w[0] in ("stop", "resume"):
        st = conns[w[1]]
        (st.reading.clear if w[0] == "stop" else st.reading.set)()
        say(**{w[0]: w[1], "bytes": st.bytes})
    elif w[0] == "close":
        c = conns.pop(w[1])
        (c.sock if isinstance(c, Stream) else c).close()
        say(closed=w[1])
    elif w[0] == "listen":
        l = socket.socket()
        l.bind(("127.0.0.1", 0))
        l.listen(4)
        threading.Thread(target=accept_never_read, args=(l,), daemon=True).start()
        say(listening=l.getsockname()[1])
os._exit(0)
