"""cwq.py SOCKET COMMAND - send one stats command and print the reply (test helper, no CLI).
Other helpers import ask()."""
import socket
import sys


def ask(path, command):
    """The whole reply of the stats socket at path to one command."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return data.decode()


if __name__ == "__main__":
    sys.stdout.write(ask(sys.argv[1], sys.argv[2]))
