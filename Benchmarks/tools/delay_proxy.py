#!/usr/bin/env python3
"""User-space delay proxy: adds a fixed one-way delay in each direction of every TCP connection.

Kernel netem is not available, so long round trips are emulated here: every chunk read from one side
is timestamped and written to the other side DELAY ms later. Bandwidth is not limited (queues are
unbounded, reads take up to 1 MiB at a time) so the round trip, not the proxy, bounds a windowed
stream. Prints `listening PORT` once bound. Loopback only.
"""
import argparse
import collections
import socket
import sys
import threading
import time

CHUNK = 1 << 20


class DelayedPipe:
    """One direction: a reader thread queues (due time, bytes); a writer thread sends them when due."""

    def __init__(self, source, sink, delay):
        self.source, self.sink, self.delay = source, sink, delay
        self.queue = collections.deque()
        self.ready = threading.Condition()
        self.done = threading.Event()

    def start(self):
        threading.Thread(target=self.read_loop, daemon=True).start()
        threading.Thread(target=self.write_loop, daemon=True).start()

    def read_loop(self):
        while True:
            try:
                data = self.source.recv(CHUNK)
            except OSError:
                data = b""
            with self.ready:
                self.queue.append((time.monotonic() + self.delay, data))
                self.ready.notify()
            if not data:
                return

    def write_loop(self):
        try:
            while True:
                with self.ready:
                    while not self.queue:
                        self.ready.wait()
                    due, _ = self.queue[0]
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)  # the emulated propagation delay itself
                batch, end = [], False
                now = time.monotonic()
                with self.ready:
                    while self.queue and self.queue[0][0] <= now:
                        _, data = self.queue.popleft()
                        if not data:
                            end = True
                            break
                        batch.append(data)
                if batch:
                    self.sink.sendall(b"".join(batch) if len(batch) > 1 else batch[0])
                if end:
                    self.sink.shutdown(socket.SHUT_WR)
                    return
        except OSError:
            pass
        finally:
            self.done.set()


def handle(client, target, delay):
    try:
        upstream = socket.create_connection(target)
    except OSError as error:
        print(f"delay_proxy: cannot reach {target}: {error}", file=sys.stderr, flush=True)
        client.close()
        return
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pipes = [DelayedPipe(client, upstream, delay), DelayedPipe(upstream, client, delay)]
    for pipe in pipes:
        pipe.start()
    for pipe in pipes:
        pipe.done.wait()
    client.close()
    upstream.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--target", required=True, help="HOST:PORT")
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay added in each direction")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    if not (args.listen.startswith("127.") and host.startswith("127.")):
        parser.error("--listen and --target must be loopback addresses")
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.listen, args.port))
    server.listen(64)
    print(f"listening {server.getsockname()[1]}", flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client, (host, int(port)), args.delay_ms / 1000), daemon=True).start()


if __name__ == "__main__":
    main()
