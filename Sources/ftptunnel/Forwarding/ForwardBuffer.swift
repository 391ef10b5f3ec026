/// A fixed-capacity byte buffer between a local socket and a channel. Storage never moves while a libssh2
/// write from it is pending (`pin`), so a retried call sees the same buffer and offset (DESIGN 3.3).
final class ForwardBuffer {
    let capacity: Int
    private let storage: UnsafeMutableRawBufferPointer
    private(set) var head = 0
    private(set) var tail = 0
    /// True while a partially sent libssh2 write refers to `storage[head...]`.
    var pinned = false

    /// Space at the end below which `writable()` compacts: a quarter of the buffer.
    var compactionThreshold: Int { capacity / 4 }

    init(capacity: Int) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    var count: Int { tail - head }
    var isEmpty: Bool { head == tail }
    /// Bytes that can be appended now (after compaction when allowed).
    var room: Int { pinned ? capacity - tail : capacity - count }
    var hasRoom: Bool { room > 0 }

    /// The unread bytes.
    var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[head..<tail]) }

    /// Free space at the end. Unread bytes are moved to the front (unless pinned) only when the space at the
    /// end has shrunk below `compactionThreshold`, so a partially drained buffer is not copied on every fill.
    func writable() -> UnsafeMutableRawBufferPointer {
        if !pinned && head > 0 && capacity - tail < compactionThreshold {
            if head < tail { storage.baseAddress!.copyMemory(from: storage.baseAddress! + head, byteCount: tail - head) }
            tail -= head
            head = 0
        }
        return UnsafeMutableRawBufferPointer(rebasing: storage[tail..<capacity])
    }

    func produced(_ n: Int) { tail += n }

    func consumed(_ n: Int) {
        head += n
        if head == tail && !pinned { head = 0; tail = 0 }
    }

    /// Appends as much of `bytes` as fits; returns how many were taken.
    func append(_ bytes: [UInt8]) -> Int {
        let space = writable()
        let n = min(space.count, bytes.count)
        if n > 0 { bytes.withUnsafeBytes { space.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) } }
        produced(n)
        return n
    }
}
