"""tree_kill_workers.py PORT - for the process-tree crash test, under a tree cap of 2. Forks
worker A, whose two threads connect to 127.0.0.1:PORT and hold the connections, and whose third
thread then waits for a slot; then workers B and C, which each wait for a slot. Every event is a
line on stdout with CLOCK_MONOTONIC seconds: "pid A P", "holds A", "pid B P", "pid C P", "got B T",
"got C T". Once B and C have got through (they hold 0.3 s, then close) it forks D, the respawned
worker, which connects ("got D T") and closes. The parent prints "done" and exits 0 when B, C and
D exited well; A is the test's to kill. Everything ends within 30 s."""
import os
import socket
import sys
import threading
import time

port = int(sys.argv[1])


def say(*words):
    os.write(1, (" ".join(str(w) for w in words) + "\n").encode())


def connect():
    return socket.create_connection(("127.0.0.1", port), timeout=25)


def worker_a():
    held = [connect(), connect()]
    say("holds", "A")
    threading.Thread(target=connect, daemon=True).start()  # waits: the cap is full
    time.sleep(30)
    os._exit(0)


def worker(tag, hold):
    s = connect()
    say("got", tag, "%.3f" % time.monotonic())
    time.sleep(hold)
    s.close()
    os._exit(0)


signal_alarm = __import__("signal")
signal_alarm.alarm(30)
a = os.fork()
if a == 0:
    worker_a()
say("pid", "A", a)
kids = []
for tag in "BC":
    time.sleep(0.3)
    p = os.fork()
    if p == 0:
        worker(tag, 0.3)
    say("pid", tag, p)
    kids.append(p)
ok = all(os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) == 0 for p in kids)
d = os.fork()
if d == 0:
    worker("D", 0)
ok = ok and os.waitstatus_to_exitcode(os.waitpid(d, 0)[1]) == 0
say("done" if ok else "bad")
sys.exit(0 if ok else 1)
