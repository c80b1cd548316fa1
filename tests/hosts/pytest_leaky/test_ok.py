"""Tests that close every connection they open."""
import socket

from conftest import ask


def test_hello(api):
    with socket.create_connection(api, timeout=5) as conn:
        assert ask(conn, "hello") == "ok hello"


def test_two_questions_on_one_connection(api):
    with socket.create_connection(api, timeout=5) as conn:
        assert ask(conn, "one") == "ok one"
        assert ask(conn, "two") == "ok two"
