#!/usr/bin/env python3
"""Records a real FTP control session as a seed for fuzz-control-stream-filter (format: FilterScript.swift).

    Fuzz/record-session.py HOST PORT OUT [--active] [--flags N]

Runs one ftplib session (login, FEAT, HELP, STAT, PASV and EPSV listings and downloads, SIZE, MDTM, REST,
AUTH TLS, optionally PORT/EPRT active mode) against the server through a loopback proxy that writes every read,
client and server, in the order it happened. Data connections go to the server directly. Only loopback."""
import ftplib, select, socket, sys, threading

def proxy(listener, host, port, steps, done):
    client, _ = listener.accept()
    server = socket.create_connection((host, port))
    sides = {client: (server, 0), server: (client, 1)}
    open_ = {client, server}
    while open_:
        ready, _, _ = select.select(list(open_), [], [], 10)
        if not ready:
            break
        for s in ready:
            data = s.recv(255)
            peer, op = sides[s]
            if not data:
                steps.append(bytes([4 if op == 0 else 5]))
                open_.discard(s)
                try: peer.shutdown(socket.SHUT_WR)
                except OSError: pass
                continue
            steps.append(bytes([op, len(data)]) + data)
            peer.sendall(data)
    done.set()

def session(port, active):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=10)
    ftp.login("anonymous", "seed@")
    for command in ["FEAT", "SYST", "HELP", "STAT", "TYPE I", "PWD", "NOOP"]:
        try: ftp.sendcmd(command)
        except ftplib.all_errors: pass
    for command in ["AUTH TLS", "SIZE small.txt", "MDTM small.txt"]:
        try: ftp.sendcmd(command)
        except ftplib.all_errors: pass
    ftp.set_pasv(not active)
    lines = []
    try: ftp.retrlines("LIST", lines.append)
    except ftplib.all_errors: pass
    try: ftp.retrbinary("RETR small.txt", lambda b: None)
    except ftplib.all_errors: pass
    try: ftp.retrbinary("RETR small.txt", lambda b: None, rest=3)
    except ftplib.all_errors: pass
    if not active:
        try: ftp.sendcmd("EPSV"); ftp.sendcmd("PASV")
        except ftplib.all_errors: pass
    try: ftp.sendcmd("STAT small.txt")
    except ftplib.all_errors: pass
    try: ftp.retrbinary("RETR missing.txt", lambda b: None)
    except ftplib.all_errors: pass
    try: ftp.sendcmd("EPSV ALL"); ftp.sendcmd("PASV")
    except ftplib.all_errors: pass
    ftp.quit()

def main():
    host, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    active = "--active" in sys.argv
    flags = int(sys.argv[sys.argv.index("--flags") + 1]) if "--flags" in sys.argv else 8
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    steps, done = [], threading.Event()
    threading.Thread(target=proxy, args=(listener, host, port, steps, done), daemon=True).start()
    session(listener.getsockname()[1], active)
    done.wait(10)
    # Completions: listeners at once (flag 8); active-mode connections completed after every step.
    body = b"".join(s + (b"\x03" if active else b"") for s in steps)
    with open(out, "wb") as f:
        f.write(bytes([flags, 0]) + body)
    print(f"{out}: {2 + len(body)} bytes, {len(steps)} reads")

main()
