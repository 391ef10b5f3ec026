import Glibc
import Posix
@testable import FTPServerKit

/// A `FileStore` kept in memory: a real store (a tree of files and directories with POSIX-like refusals), the
/// third one beside pasvd's confined local store and the bridge's SFTP store, so the engine can be driven alone.
/// Every path the engine hands over is recorded, to check that the engine never passes an unnormalised one.
/// Used by the session's thread; a test reads it only after the session ended.
final class MemoryFileStore: FileStore, @unchecked Sendable {
    enum Node: Equatable {
        case file([UInt8])
        case directory
    }

    /// Modification time of every entry (MDTM: 20231114221320).
    static let modified = 1_700_000_000

    private(set) var nodes: [VirtualPath: Node] = [.root: .directory]
    /// Every path the engine asked about, in order.
    private(set) var pathsSeen: [VirtualPath] = []

    /// A store holding `files` (path → content) and `directories`; parents are created as needed.
    init(files: [String: [UInt8]] = [:], directories: [String] = []) {
        for directory in directories { makeParents(Self.path(directory)) }
        for (name, content) in files {
            let path = Self.path(name)
            makeParents(path.parent)
            nodes[path] = .file(content)
        }
    }

    convenience init(texts: [String: String], directories: [String] = []) {
        self.init(files: texts.mapValues { Array($0.utf8) }, directories: directories)
    }

    static func path(_ text: String) -> VirtualPath { VirtualPath(components: text.split(separator: "/").map(String.init)) }

    func content(_ text: String) -> [UInt8]? {
        if case .file(let bytes)? = nodes[Self.path(text)] { return bytes }
        return nil
    }

    /// Creates `path` and every directory above it that is missing.
    private func makeParents(_ path: VirtualPath) {
        var current = VirtualPath.root
        for component in path.components {
            current = current.appending(component)
            if nodes[current] == nil { nodes[current] = .directory }
        }
    }

    private func seen(_ path: VirtualPath) { pathsSeen.append(path) }

    private func node(_ path: VirtualPath) throws(FileStoreError) -> Node {
        seen(path)
        guard let node = nodes[path] else { throw .path(.notFound(path.description)) }
        return node
    }

    private func requireDirectory(_ path: VirtualPath, _ function: String) throws(FileStoreError) {
        guard try node(path) == .directory else { throw .system(PosixError(function, code: ENOTDIR)) }
    }

    private func children(of path: VirtualPath) -> [VirtualPath] {
        nodes.keys.filter { !$0.isRoot && $0.parent == path }.sorted { $0.name! < $1.name! }
    }

    func facts(_ path: VirtualPath) throws(FileStoreError) -> FileFacts {
        switch try node(path) {
        case .file(let bytes): return FileFacts(kind: .file, size: Int64(bytes.count), modified: Self.modified, mode: 0o644)
        case .directory: return FileFacts(kind: .directory, size: 4096, modified: Self.modified, mode: 0o755, links: 2)
        }
    }

    func listing(_ path: VirtualPath) throws(FileStoreError) -> [(name: String, facts: FileFacts)] {
        try requireDirectory(path, "openat")
        var entries: [(name: String, facts: FileFacts)] = []
        for child in children(of: path) { entries.append((child.name!, try facts(child))) }
        return entries
    }

    func enter(_ path: VirtualPath) throws(FileStoreError) { try requireDirectory(path, "openat") }

    func makeDirectory(_ path: VirtualPath) throws(FileStoreError) {
        try requireDirectory(path.parent, "mkdirat")
        guard nodes[path] == nil else { throw .system(PosixError("mkdirat", code: EEXIST)) }
        nodes[path] = .directory
    }

    func removeDirectory(_ path: VirtualPath) throws(FileStoreError) {
        try requireDirectory(path, "unlinkat")
        guard children(of: path).isEmpty else { throw .system(PosixError("unlinkat", code: ENOTEMPTY)) }
        nodes[path] = nil
    }

    func removeFile(_ path: VirtualPath) throws(FileStoreError) {
        guard case .file = try node(path) else { throw .isDirectory }
        nodes[path] = nil
    }

    /// RNFR's hold on its source.
    final class RenameSource {
        let path: VirtualPath
        init(_ path: VirtualPath) { self.path = path }
    }

    func renameSource(_ path: VirtualPath) throws(FileStoreError) -> AnyObject {
        _ = try node(path)
        return RenameSource(path)
    }

    func rename(_ source: AnyObject, to target: VirtualPath) throws(FileStoreError) {
        guard let source = source as? RenameSource, nodes[source.path] != nil else {
            throw .system(PosixError("renameat", code: ENOENT))
        }
        try requireDirectory(target.parent, "renameat")
        guard !target.components.starts(with: source.path.components) else { throw .system(PosixError("renameat", code: EINVAL)) }
        let moved = nodes.filter { $0.key.components.starts(with: source.path.components) }
        for (path, _) in moved { nodes[path] = nil }
        for (path, node) in moved {
            nodes[VirtualPath(components: target.components + path.components.dropFirst(source.path.components.count))] = node
        }
    }

    func download(_ path: VirtualPath) throws(FileStoreError) -> FileDownload {
        guard case .file(let bytes) = try node(path) else { throw .notRegularFile }
        return MemoryDownload(bytes: bytes)
    }

    func upload(_ path: VirtualPath, mode: UploadMode, deadline: Double) throws(FileStoreError) -> FileUpload {
        try requireDirectory(path.parent, "openat")
        seen(path)
        var target = path
        var kept: [UInt8] = []
        switch (mode, nodes[path]) {
        case (_, .directory?): throw .isDirectory
        case (.replace, _): break
        case (.append, .file(let bytes)?): kept = bytes
        case (.append, nil): break
        case (.resume(let offset), let node):
            guard case .file(let bytes)? = node, offset <= Int64(bytes.count) else { throw .offsetBeyondEnd }
            kept = Array(bytes.prefix(Int(offset)))
        case (.unique, _):
            guard let free = (0..<100).lazy.map({ $0 == 0 ? path : path.parent.appending("\(path.name!).\($0)") })
                .first(where: { self.nodes[$0] == nil }) else { throw .noUniqueName }
            target = free
        }
        return MemoryUpload(store: self, path: target, kept: kept)
    }

    /// Puts a finished upload in place (`MemoryUpload.commit`).
    fileprivate func store(_ bytes: [UInt8], at path: VirtualPath) { nodes[path] = .file(bytes) }
}

/// A file sent from memory over the data connection.
final class MemoryDownload: FileDownload {
    let bytes: [UInt8]
    init(bytes: [UInt8]) { self.bytes = bytes }
    var size: Int64 { Int64(bytes.count) }

    func send(from offset: Int64, count: Int64, over data: DataConnection) -> TransferEnd {
        data.send(Array(bytes[Int(offset)..<Int(offset + count)]))
    }
}

/// An upload collected in memory and put in place at `commit` (atomic visibility).
final class MemoryUpload: FileUpload {
    private let store: MemoryFileStore
    private let path: VirtualPath
    private var bytes: [UInt8]

    init(store: MemoryFileStore, path: VirtualPath, kept: [UInt8]) {
        self.store = store
        self.path = path
        bytes = kept
    }

    var announcedName: String { path.name! }
    func write(_ buffer: UnsafeRawBufferPointer) throws(FileStoreError) { bytes.append(contentsOf: buffer) }
    func sync() throws(FileStoreError) {}
    func commit() throws(FileStoreError) -> String {
        store.store(bytes, at: path)
        return path.name!
    }
    func discard() {}
}
