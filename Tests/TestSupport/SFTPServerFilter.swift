/// OpenSSH's sftp-server behind a Python relay, for tests that need an SFTP server that misbehaves in one precise
/// way. `hooks` is Python source defining either or both of:
/// - `on_request(packet)`: every client → server packet (bytes, with its length prefix; `packet[4]` is the type);
///   return the packet to pass on (possibly rewritten), or None to drop it. `answer(packet)` sends a reply of its own.
/// - `on_answer(packet)`: every server → client packet; return it, or None to hold it back.
/// Module-level state in `hooks` is shared by both (they run on two threads; `lock` is there for it).
public enum SFTPServerFilter {
    public static func script(_ hooks: String) -> String {
        """
        import os, struct, subprocess, sys, threading
        child = subprocess.Popen(["/usr/lib/openssh/sftp-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        out = sys.stdout.buffer
        lock = threading.Lock()
        out_lock = threading.Lock()

        def answer(packet):
            with out_lock:
                out.write(packet)
                out.flush()

        def on_request(packet):
            return packet

        def on_answer(packet):
            return packet

        \(hooks)

        def read_exact(stream, n):
            data = b""
            while len(data) < n:
                chunk = stream.read(n - len(data))
                if not chunk:
                    return None
                data += chunk
            return data

        def packets(stream):
            while True:
                header = read_exact(stream, 4)
                if header is None:
                    return
                body = read_exact(stream, struct.unpack(">I", header)[0])
                if body is None:
                    return
                yield header + body

        def answers():
            for packet in packets(child.stdout):
                packet = on_answer(packet)
                if packet is not None:
                    answer(packet)

        threading.Thread(target=answers, daemon=True).start()
        for packet in packets(sys.stdin.buffer):
            packet = on_request(packet)
            if packet is not None:
                child.stdin.write(packet)
                child.stdin.flush()
        child.stdin.close()
        child.wait()
        """
    }
}
