#!/usr/bin/env python3
"""Server-side TCP endpoint for the libssh2 raw benchmark rows.

`--send FILE`: every connection receives FILE (sendfile, zero copy), then the server closes it.
`--receive PATH`: every connection's bytes are written to PATH (replaced); the socket is closed only
after the file is complete and closed, so the client's channel EOF means the upload is on disk.
Prints `listening PORT` once bound. Loopback only.
"""
import argparse
import os
import socket
import sys
import threading

CHUNK = 1 << 20


def send_file(conn, path):
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        while offset < size:
            sent = os.sendfile(conn.fileno(), f.fileno(), offset, size - offset)
            if sent == 0:
                break
            offset += sent
    conn.shutdown(socket.SHUT_WR)


def receive_file(conn, path):
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "wb") as f:
        while True:
            n = conn.recv_into(buffer)
            if n == 0:
                break
            f.write(view[:n])


def serve(conn, args):
    try:
        if args.send:
            send_file(conn, args.send)
        else:
            receive_file(conn, args.receive)
    except OSError as error:
        print(f"tcp_endpoint: {error}", file=sys.stderr, flush=True)
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.2")
    parser.add_argument("--port", type=int, default=0)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--send", metavar="FILE")
    mode.add_argument("--receive", metavar="PATH")
    args = parser.parse_args()
    if not args.listen.startswith("127."):
        parser.error("--listen must be a loopback address")
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.listen, args.port))
    server.listen(16)
    print(f"listening {server.getsockname()[1]}", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    main()
