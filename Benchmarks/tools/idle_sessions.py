#!/usr/bin/env python3
"""Opens COUNT FTP control connections, logs each in, and holds them idle until stdin closes.

Prints `ready COUNT` once every session got its 230, or `failed N: REASON` and exits 1.
Used to measure a server's memory with many idle sessions.
"""
import argparse
import socket
import sys


def read_reply(f):
    """Reads one (possibly multi-line) FTP reply and returns its code."""
    line = f.readline()
    if not line:
        raise OSError("connection closed")
    code = line[:3]
    if line[3:4] == b"-":
        while True:
            line = f.readline()
            if not line:
                raise OSError("connection closed")
            if line[:3] == code and line[3:4] == b" ":
                break
    return int(code)


def login(host, port, user, password, timeout):
    s = socket.create_connection((host, port), timeout=timeout)
    f = s.makefile("rb")
    if read_reply(f) != 220:
        raise OSError("no 220 greeting")
    s.sendall(f"USER {user}\r\n".encode())
    code = read_reply(f)
    if code == 331:
        s.sendall(f"PASS {password}\r\n".encode())
        code = read_reply(f)
    if code != 230:
        raise OSError(f"login answered {code}")
    return s, f


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.2")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--user", default="anonymous")
    parser.add_argument("--password", default="bench@example.com")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args()
    sessions = []
    for i in range(args.count):
        try:
            sessions.append(login(args.host, args.port, args.user, args.password, args.timeout))
        except OSError as error:
            print(f"failed {i}: {error}", flush=True)
            return 1
    print(f"ready {len(sessions)}", flush=True)
    sys.stdin.read()
    for s, f in sessions:
        try:
            s.sendall(b"QUIT\r\n")
        except OSError:
            pass
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
