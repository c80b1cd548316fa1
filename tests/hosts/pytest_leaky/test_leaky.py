"""A test that keeps its connection for the module's lifetime: the leak the check must name."""
import socket

from conftest import ask

SESSIONS = []  # kept "for reuse", never closed


def test_report(api):
    conn = socket.create_connection(api, timeout=5)  # leaks: kept in SESSIONS
    SESSIONS.append(conn)
    assert ask(conn, "report") == "ok report"


def test_status(api):
    with socket.create_connection(api, timeout=5) as conn:
        assert ask(conn, "status") == "ok status"
