"""names_round_robin.py NAME PORT N HOLD - N connections at once to NAME:PORT, the i-th to the i-th
address NAME resolves to (round robin, as a client that spreads its load does), each held HOLD
seconds (sending a line and reading its echo) and closed. Prints one JSON line: how many
connections worked, and the addresses used."""
import json
import socket
import sys
import threading
import time

name, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
addrs = [ai[4][0] for ai in socket.getaddrinfo(name, port, socket.AF_INET, socket.SOCK_STREAM)]
ok = []


def one(i):
    s = socket.create_connection((addrs[i % len(addrs)], port), timeout=30)
    s.sendall(b"hello\n")
    if s.recv(100) != b"hello\n":
        raise SystemExit("no echo")
    time.sleep(hold)
    s.close()
    ok.append(i)


threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"ok": len(ok), "addresses": sorted(set(addrs))}))
