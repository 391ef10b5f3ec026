#!/usr/bin/env python3
"""Times an FTP server's greeting: from TCP connect to the 220, for a first control connection and then for a
second one right after the first logged in (while it is still open), and for a third one --later seconds after
that (a user's next connection; the pause is the scenario, not a wait for anything). Prints `first SECONDS`,
`second SECONDS` and `later SECONDS`, or `failed: REASON` and exits 1. Every wait is bounded by --timeout.
"""
import argparse
import socket
import sys
import time


def greeting(host, port, timeout):
    """Connects and reads the 220; returns (socket, file, seconds from connect start to the 220 line)."""
    start = time.monotonic()
    s = socket.create_connection((host, port), timeout=timeout)
    f = s.makefile("rb")
    line = f.readline(4096)
    elapsed = time.monotonic() - start
    if not line.startswith(b"220"):
        raise OSError("no 220 greeting: %r" % line[:80])
    while line[3:4] == b"-":
        line = f.readline(4096)
        if not line:
            raise OSError("connection closed in the greeting")
    return s, f, elapsed


def command(s, f, text):
    s.sendall(text.encode() + b"\r\n")
    line = f.readline(4096)
    if not line:
        raise OSError("connection closed after " + text)
    return line


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--later", type=float, default=2)
    args = parser.parse_args()
    try:
        first, first_file, first_seconds = greeting(args.host, args.port, args.timeout)
        command(first, first_file, "USER me")
        command(first, first_file, "PASS x")
        second, second_file, second_seconds = greeting(args.host, args.port, args.timeout)
        time.sleep(args.later)
        third, third_file, later_seconds = greeting(args.host, args.port, args.timeout)
        for s, f in ((third, third_file), (second, second_file), (first, first_file)):
            command(s, f, "QUIT")
            s.close()
    except OSError as e:
        print("failed:", e, flush=True)
        return 1
    print("first %.6f" % first_seconds)
    print("second %.6f" % second_seconds)
    print("later %.6f" % later_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
