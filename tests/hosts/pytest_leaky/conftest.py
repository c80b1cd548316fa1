"""conftest.py - a small pytest suite of the kind `connwarden run --check-leaks` is for: its tests
talk to a service on 127.0.0.1:$PYTEST_LEAKY_PORT (tests/hosts/leaks_server.py: "ok LINE" for each
line). test_ok.py closes what it opens; test_leaky.py keeps one connection in a module-level list,
so it lives until the interpreter's teardown closes it at exit. The suite passes either way."""
import os

import pytest


@pytest.fixture
def api():
    """The service's address."""
    return ("127.0.0.1", int(os.environ["PYTEST_LEAKY_PORT"]))


def ask(conn, line):
    """Send LINE, return the service's answer to it."""
    conn.sendall(line.encode() + b"\n")
    answer = b""
    while not answer.endswith(b"\n"):
        data = conn.recv(100)
        if not data:
            break
        answer += data
    return answer.decode().strip()
